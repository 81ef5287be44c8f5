"""``python -m spikingjelly_mulfree.train``: train one neuron, and optionally baselines, on
one data set, then print the results side by side."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..datasets import CorruptDatasetError, DatasetNotFoundError
from . import distributed as dist_utils
from .checkpoint import CHECKPOINT_NAME, CheckpointError
from .config import ConfigError, TrainConfig, build_parser, resolve
from .options import cli_message
from .trainer import check_resumable, fit


def summary_table(results: list[dict[str, object]]) -> str:
    """The final side-by-side summary of several runs.

    Example:
        >>> print(summary_table([{"neuron": "cpsn", "dataset": "digits", "final_test_acc": 0.97,
        ...     "best_test_acc": 0.98, "parameters": 10, "epochs_done": 3,
        ...     "seconds_this_invocation": 1.0}]))  # doctest: +NORMALIZE_WHITESPACE
        data set  neuron  test acc (final)  test acc (best)  parameters  epochs  seconds
        digits    cpsn    97.00%            98.00%           10          3       1.0
    """
    def pct(v: object) -> str:
        return "n/a" if v is None else f"{100 * float(v):.2f}%"

    lines = [f"{'data set':<9} {'neuron':<12} {'test acc (final)':<17} {'test acc (best)':<16} "
             f"{'parameters':<11} {'epochs':<7} seconds"]
    for r in results:
        lines.append(
            f"{r['dataset']:<9} {r['neuron']:<12} {pct(r['final_test_acc']):<17} "
            f"{pct(r['best_test_acc']):<16} {r['parameters']:<11,} {r['epochs_done']:<7} "
            f"{float(r['seconds_this_invocation']):.1f}")
    return "\n".join(lines)


def _fit_or_exit(parser: argparse.ArgumentParser, cfg: TrainConfig, step=fit):
    """``step(cfg)`` (``fit`` by default); the errors a user can fix from the command line end
    the program with one ``error:`` line: exit status 2 for a setting that cannot work, 1 for
    missing or unreadable files and missing optional packages (whose error carries the
    ``pip install`` command)."""
    try:
        return step(cfg)
    except ConfigError as err:
        parser.error(str(err))
    except (DatasetNotFoundError, CorruptDatasetError, FileNotFoundError, CheckpointError) as err:
        parser.exit(1, f"{parser.prog}: error: {cli_message(err)}\n")
    except ImportError as err:
        if "pip install" not in str(err):
            raise
        parser.exit(1, f"{parser.prog}: error: {err}\n")


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    """Parse ``argv``, train every requested neuron, print the summary; returns the results."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configs = resolve(args)
    except ValueError as err:
        parser.error(str(err))
    if args.resume:
        started = [Path(c.out, CHECKPOINT_NAME).is_file() for c in configs]
        if not any(started):
            parser.error(f"--resume: no checkpoint at {Path(configs[0].out, CHECKPOINT_NAME)}; "
                         "run without --resume to start training, or pass the --out folder "
                         "of the run to continue")
        for cfg, has_checkpoint in zip(configs, started):
            cfg.resume = has_checkpoint
            if not has_checkpoint:
                print(f"note: {cfg.out} has no checkpoint to resume: {cfg.neuron} starts "
                      "afresh", file=sys.stderr)
        for cfg in configs[1:]:  # the others' checkpoints before the first run trains (its
            if cfg.resume:        # own fit checks its checkpoint first)
                _fit_or_exit(parser, cfg, check_resumable)
    results = []
    try:
        for cfg in configs:
            results.append(_fit_or_exit(parser, cfg))
        ctx = dist_utils.setup(configs[0].device)
        if ctx.is_main:
            print("\n" + summary_table(results), flush=True)
            print(f"results: {', '.join(c.out + '/results.json' for c in configs)}",
                  file=sys.stderr)
    finally:
        dist_utils.cleanup()
    return results
