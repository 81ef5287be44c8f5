"""Print the parameter count of every network for every neuron: ``python -m
spikingjelly_mulfree.models [--neuron cpsn lif ...]``."""
from __future__ import annotations

import argparse

from ..datasets import DATASETS
from .common import count_parameters
from .neurons import NEURONS
from .registry import NETWORKS, build_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spikingjelly_mulfree.models",
                                     description=__doc__)
    parser.add_argument("--neuron", nargs="+", default=["cpsn", "lif"], choices=NEURONS)
    args = parser.parse_args(argv)
    print(f"{'data set':<10} {'network':<20} " + " ".join(f"{n:>12}" for n in args.neuron))
    for name, cls in NETWORKS.items():
        info = DATASETS[name]
        counts = [count_parameters(build_model(name, info.num_classes, neuron=n, T=info.default_T))
                  for n in args.neuron]
        print(f"{name:<10} {cls.__name__:<20} " + " ".join(f"{c:>12,}" for c in counts))


if __name__ == "__main__":
    main()
