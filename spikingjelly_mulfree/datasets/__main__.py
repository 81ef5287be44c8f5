"""Check that a data set is where the loaders look, before a long training run.

``python -m spikingjelly_mulfree.datasets NAME [--data-root PATH] [--option KEY=VALUE ...]``
builds both splits, reads one sample of each and prints their sizes and shapes, or the loader's
error (which names the expected path and layout) with exit status 1.

Example:
    >>> main(["digits"])  # doctest: +ELLIPSIS
    digits train: 1438 samples, x[0] (8, 8) float32, label ...
    digits test: 359 samples, x[0] (8, 8) float32, label ...
    0
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence

from .errors import CorruptDatasetError, DatasetNotFoundError
from .registry import DATASETS, build_dataset


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option: expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; returns the exit status (0 when both splits load)."""
    parser = argparse.ArgumentParser(prog="python -m spikingjelly_mulfree.datasets",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(DATASETS))
    parser.add_argument("--data-root", default=None, help="folder holding the data set")
    parser.add_argument("--option", action="append", type=_option, default=[],
                        help="loader option KEY=VALUE, e.g. T=30 or mode=pixels (repeatable)")
    args = parser.parse_args(argv)
    for split in ("train", "test"):
        try:
            ds = build_dataset(args.name, args.data_root, split, augment=False,
                               **dict(args.option))
            x, y = ds[0]
        except (DatasetNotFoundError, CorruptDatasetError, ValueError) as err:
            print(f"{args.name} {split}: {err}", file=sys.stderr)
            return 1
        dtype = str(x.dtype).removeprefix("torch.")
        print(f"{args.name} {split}: {len(ds)} samples, x[0] {tuple(x.shape)} {dtype}, label {y}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
