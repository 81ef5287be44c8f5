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
import sys
from collections.abc import Sequence

from ..train.config import key_value_option
from .errors import CorruptDatasetError, DatasetNotFoundError
from .registry import DATASETS, build_dataset


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; returns the exit status (0 when both splits load)."""
    parser = argparse.ArgumentParser(prog="python -m spikingjelly_mulfree.datasets",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(DATASETS))
    parser.add_argument("--data-root", default=None, help="folder holding the data set")
    parser.add_argument("--option", "--data-option", dest="option", action="append",
                        type=key_value_option("mode=pixels"), default=[],
                        help="loader option KEY=VALUE, e.g. T=30 or mode=pixels (repeatable; "
                             "--data-option as in the training command)")
    args = parser.parse_args(argv)
    from ..train.options import (check_options, cli_message, flag_errors, loader_options,
                                 missing_root)

    options = dict(args.option)
    flags = {key: f"--option {key}" for key in options}
    try:
        check_options("--option", f"data set {args.name!r}", options, loader_options(args.name))
        for split in ("train", "test"):
            try:
                with flag_errors(flags):
                    ds = build_dataset(args.name, args.data_root, split, augment=False,
                                       **options)
                x, y = ds[0]
            except (DatasetNotFoundError, CorruptDatasetError) as err:
                print(f"{args.name} {split}: {cli_message(err, '--option')}", file=sys.stderr)
                return 1
            dtype = str(x.dtype).removeprefix("torch.")
            print(f"{args.name} {split}: {len(ds)} samples, x[0] {tuple(x.shape)} {dtype}, "
                  f"label {y}")
    except ValueError as err:  # a --option or --data-root the loader refuses
        parser.error(str(missing_root(err, args.name, args.data_root) or err))
    return 0

if __name__ == "__main__":
    sys.exit(main())
