"""One neuron layer, forward + backward: CPSN (every available backend) against SpikingJelly's
PSN, SlidingPSN and multi-step LIF, and the memory floor (``x * 1.0``), side by side.

Usage::

    python benchmarks/bench_layer.py [--device cpu|cuda] [--repeats 7]

Prints, per shape, the median time, the ratio to PSN, and the peak memory of forward + backward
(``_timing.peak_bytes``). Shapes: the sequential-CIFAR layer
``[T=32, N=32, C=128, L=32]`` with k=16 and the SHD layer ``[T=100, N=64, C=256]`` with k=2.
CPSN runs in training mode with its default BatchNorm threshold and power-of-two weights.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from spikingjelly.activation_based import functional, neuron

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._timing import device_name, peak_bytes, time_fwd_bwd  # noqa: E402
from spikingjelly_mulfree import CPSN  # noqa: E402
from spikingjelly_mulfree.backends import backend_names, get_backend  # noqa: E402

SHAPES = {"sequential CIFAR": ((32, 32, 128, 32), 16), "SHD": ((100, 64, 256), 2)}


def candidates(shape: tuple[int, ...], k: int, x: torch.Tensor) -> dict:
    T, C = shape[0], shape[2]
    flat = (lambda f: (lambda x: f(x.flatten(2)))) if len(shape) > 3 else (lambda f: f)
    out = {"floor (x*1.0)": lambda x: x * 1.0}
    psn = neuron.PSN(T).to(x.device)
    out["SJ PSN"] = flat(psn)
    sliding = neuron.SlidingPSN(k, step_mode="m").to(x.device)
    out[f"SJ SlidingPSN k={k}"] = sliding
    lif = neuron.LIFNode(step_mode="m").to(x.device)

    def run_lif(x):
        functional.reset_net(lif)
        return lif(x)

    out["SJ LIF (multi-step)"] = run_lif
    for name in backend_names():
        if name == "auto":
            continue
        try:
            get_backend(name, x)
        except RuntimeError:
            continue
        out[f"CPSN k={k} [{name}]"] = CPSN(C, k=k, backend=name).to(x.device)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    for title, (shape, k) in SHAPES.items():
        x = torch.randn(shape, device=device, requires_grad=True)
        print(f"\n{title}: x={list(shape)}, k={k}")
        print(f"{'neuron':28s} {'ms':>9s} {'x PSN':>7s} {'MiB':>8s} {'x PSN':>7s}")
        rows = {}
        for name, fn in candidates(shape, k, x).items():
            t = time_fwd_bwd(fn, x, repeats=args.repeats)
            mem = peak_bytes(fn, x)
            rows[name] = (t, mem)
        t_psn, m_psn = rows["SJ PSN"]
        for name, (t, mem) in rows.items():
            print(f"{name:28s} {t * 1e3:9.2f} {t / t_psn:7.2f} {mem / 2**20:8.1f} "
                  f"{mem / m_psn:7.2f}")


if __name__ == "__main__":
    main()
