"""``python -m spikingjelly_mulfree.energy``: the paper's Table 6, or the report of any model.

Examples::

    python -m spikingjelly_mulfree.energy                      # Table 6 (PSN vs CPSN k=16)
    python -m spikingjelly_mulfree.energy --neurons cpsn sliding_psn lif --k 4 --layers
    python -m spikingjelly_mulfree.energy --model my_pkg.nets:build --input-shape 16,1,2,34
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

import torch

from ..models import NEURONS
from .costs import EnergyCosts
from .report import count_energy
from .table6 import (
    TABLE6_K, TABLE6_T, PaperFigures, implied_activity, matches_paper, paper_row,
    table6_markdown, table6_reports,
)


def _dilations(text: str | None) -> str | list[int] | None:
    if text is None or text == "none":
        return None
    if text == "sawtooth":
        return text
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--dilations: expected 'none', 'sawtooth' or comma-separated integers, got {text!r}"
        ) from None


def _positive(text: str) -> int:
    """One integer >= 1 (a count or a size)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(_positive(v) for v in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers >= 1 such as 32,1,3,32, got {text!r}"
        ) from None


def _cost(text: str) -> tuple[str, float]:
    """One ``--cost NAME=PJ`` pair as ``(EnergyCosts field, value)``."""
    name, _, value = text.partition("=")
    field = f"{name}_pj"
    if field not in EnergyCosts.__dataclass_fields__:
        raise argparse.ArgumentTypeError(
            f"expected NAME=PJ with NAME one of mul, add, shift, mac, ac; got {text!r}"
        )
    try:
        return field, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME=PJ with PJ a number of picojoules such as shift=0.13; got {text!r}"
        ) from None


def _costs(parser: argparse.ArgumentParser, pairs: Sequence[tuple[str, float]]) -> EnergyCosts:
    try:
        return EnergyCosts(**dict(pairs))
    except ValueError as err:
        parser.error(f"argument --cost: {err}")


def _load_model(parser: argparse.ArgumentParser, spec: str) -> torch.nn.Module:
    module_name, _, attr = spec.partition(":")
    if not attr:
        parser.error(f"argument --model: expected 'package.module:factory', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        parser.error(f"argument --model: cannot load {spec!r}: {err}")
    if isinstance(factory, torch.nn.Module):
        model = factory
    else:
        try:
            model = factory()
        except TypeError as err:
            parser.error(f"argument --model: {spec} must be an nn.Module or a function that "
                         "builds one with no arguments (define one in your module, e.g. "
                         f"def net(): return build(10)); calling it failed: {err}")
    if not isinstance(model, torch.nn.Module):
        parser.error(f"argument --model: {spec} returned {type(model).__name__}, not an "
                     "nn.Module")
    return model


def _write_json(parser: argparse.ArgumentParser, path: str, data: object) -> None:
    try:
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
    except OSError as err:
        parser.error(f"argument --json: cannot write {path!r}: {err}")


TABLE6_ONLY = {"neurons": ["psn", "cpsn"], "T": TABLE6_T, "k": TABLE6_K, "dilations": None,
               "num_classes": 100, "layers": False, "check": False}
"""Options of the paper's network, which ``--model`` replaces, and their defaults (filled in
after parsing, so that an option given with its default value is still seen as given)."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m spikingjelly_mulfree.energy",
        description="Neuron and synaptic operation counts and 45 nm energy per sample. Without "
                    "--model: the sequential CIFAR network of the paper's Table 6.",
    )
    unset = argparse.SUPPRESS  # TABLE6_ONLY's defaults come after parsing
    p.add_argument("--neurons", nargs="+", default=unset, choices=NEURONS,
                   help="neuron types of the sequential CIFAR network (default: psn cpsn)")
    p.add_argument("--T", type=_positive, default=unset, help="time steps (default 32)")
    p.add_argument("--k", type=_positive, default=unset, help="CPSN / sliding PSN order (16)")
    p.add_argument("--dilations", type=_dilations, default=unset,
                   help="CPSN dilations: none, sawtooth or e.g. 1,2,3,1,2,3,1")
    p.add_argument("--num-classes", type=_positive, default=unset, help="(default 100)")
    p.add_argument("--layers", action="store_true", default=unset,
                   help="also print per-layer reports")
    p.add_argument("--model", help="'package.module:factory' returning an nn.Module to count "
                                   "instead (needs --input-shape)")
    p.add_argument("--input-shape", type=_shape, help="shape of the random example input, "
                                                       "time-first, e.g. 32,1,3,32")
    p.add_argument("--batch-size", type=_positive,
                   help="samples in the input (default: the batch the neuron layers see)")
    p.add_argument("--cost", nargs="*", default=[], metavar="NAME=PJ", type=_cost,
                   help="override energies, e.g. shift=0.13 mul=3.7")
    p.add_argument("--json", help="also write the reports to this JSON file")
    p.add_argument("--check", action="store_true", default=unset,
                   help="exit with status 1 unless psn / cpsn are counted at the paper's "
                        "setting and their neuron figures match its Table 6")
    return p


def _paper_rows(args: argparse.Namespace, reports: dict) -> dict[str, PaperFigures]:
    """The paper's rows for the networks of this run, where they count the same network at
    the same costs."""
    rows = {name: paper_row(name, args.T, args.k, args.num_classes, args.dilations, rep.costs)
            for name, rep in reports.items()}
    return {name: row for name, row in rows.items() if row is not None}


def _print_notes(reports: dict, rows: dict[str, PaperFigures], costs: EnergyCosts) -> None:
    print("\nCounts print as the paper does (truncated to 3 significant digits), exact in "
          "brackets. Synaptic figures of this run come from an untrained network on a random "
          "image; the paper's depend on its trained networks' spikes.")
    for name, row in rows.items():
        share = implied_activity(reports[name], row, costs)
        print(f"- {row.label}: the paper's synaptic share read as ACs alone "
              f"is {share:.2%} of the dense spike-driven weight uses.")
    for name, rep in reports.items():
        if rep.uncounted:
            print(f"- Not counted in the {name} network (no rule): {', '.join(rep.uncounted)}")


def _run_table6(parser: argparse.ArgumentParser, args: argparse.Namespace,
                costs: EnergyCosts) -> int:
    try:
        reports = table6_reports(tuple(args.neurons), T=args.T, k=args.k,
                                 num_classes=args.num_classes, dilations=args.dilations,
                                 costs=costs)
    except ValueError as err:
        if args.dilations is None:
            raise
        parser.error(f"argument --dilations: {err}")
    rows = _paper_rows(args, reports)
    print(f"Sequential CIFAR-{args.num_classes} network, T={args.T}, energy per image "
          f"(45 nm: MUL {costs.mul_pj}, ADD {costs.add_pj}, SHIFT {costs.shift_pj}, "
          f"MAC {costs.mac_pj}, AC {costs.ac_pj} pJ)\n")
    print(table6_markdown(reports, T=args.T, k=args.k, num_classes=args.num_classes,
                          dilations=args.dilations))
    _print_notes(reports, rows, costs)
    if args.layers:
        for name, rep in reports.items():
            print(f"\n### {name}\n\n{rep.to_markdown()}")
    if args.json:
        _write_json(parser, args.json, {name: rep.to_dict() for name, rep in reports.items()})
    if args.check:
        failures = _check_failures(reports, rows)
        for line in failures:
            print(f"check failed: {line}", file=sys.stderr)
        return 1 if failures else 0
    return 0


def _check_failures(reports: dict, rows: dict[str, PaperFigures]) -> list[str]:
    """Why ``--check`` fails (empty when it passes): each network the paper counted must
    match its row, and at least one must have been asked for."""
    asked = [n for n in ("psn", "cpsn") if n in reports]
    if not asked:
        return [f"the paper counts only psn and cpsn; this run has {sorted(reports)}"]
    failures = []
    for name in asked:
        if name not in rows:
            failures.append(f"{name}: the paper has no figures at this setting (Table 6 is "
                            f"CIFAR-100, T = {TABLE6_T}, CPSN k = {TABLE6_K} with dilation 1, "
                            "the paper's costs)")
        elif not matches_paper(reports[name], rows[name]):
            failures.append(f"{name}: the neuron-layer figures differ from the paper's row")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    costs = _costs(parser, args.cost)
    if not args.model:
        for name, default in TABLE6_ONLY.items():
            if not hasattr(args, name):
                setattr(args, name, default)
        return _run_table6(parser, args, costs)
    if args.input_shape is None:
        parser.error("argument --model: needs --input-shape (e.g. --input-shape 32,1,3,32)")
    for name in TABLE6_ONLY:
        if hasattr(args, name):
            flag = "--" + name.replace("_", "-")
            parser.error(f"argument {flag}: sets up the paper's network, which --model "
                         f"replaces; drop {flag} (or --model)")
    torch.manual_seed(0)
    model = _load_model(parser, args.model)
    try:
        report = count_energy(model, torch.rand(args.input_shape), costs=costs,
                              batch_size=args.batch_size)
    except (RuntimeError, ValueError) as err:  # the network's complaint: most often the shape
        if str(err).startswith("batch_size: "):
            text = str(err).removeprefix("batch_size: ").replace("pass batch_size",
                                                                   "pass --batch-size")
            parser.error(f"argument --batch-size: {text}")
        parser.error(f"argument --input-shape: {args.model} failed on a random input of shape "
                     f"{tuple(args.input_shape)}: {err}")
    print(report.to_markdown())
    if args.json:
        _write_json(parser, args.json, report.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
