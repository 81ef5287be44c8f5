"""Whole training steps of the paper's networks, one row per neuron: CPSN (every runnable
backend, and ``'auto'``) against SpikingJelly's PSN and multi-step LIF.

Usage::

    python benchmarks/bench_network.py --device cpu --threads 1   # the committed CPU table
    python benchmarks/bench_network.py                            # CUDA when available
    python benchmarks/bench_network.py --networks digits --batch 4 --repeats 2   # to cpu-quick/

A step is what ``python -m spikingjelly_mulfree.train`` runs per batch
(:func:`spikingjelly_mulfree.train.loop.train_one_epoch` on a one-batch list): forward,
cross-entropy with the data set's label smoothing, ``zero_grad``, backward, the recipe's
optimizer step, ``functional.reset_net`` and the network's ``after_optimizer_step`` (SHD's
delay clamp). Each network is built as the trainer builds it
(:func:`~spikingjelly_mulfree.train.default_model_builder` with the data set's recipe: order
``k``, dilations, surrogate, optimizer). Inputs and labels are random, made once outside the
timed region; there is no MixUp/CutMix (data augmentation, the same for every neuron).

* ``scifar10`` / ``scifar100``: ``SequentialCIFARNet``, ``x [32, N, 3, 32]`` (columns as time);
* ``shd``: ``SHDNet``, ``T = 100`` steps of random counts on the 700 sensor channels, summed in
  groups of 5 to the network's 140 inputs;
* ``digits`` (tiny, for tests), ``pcifar10`` (``T = 1024``): on request.

The time is the median of ``--repeats`` steps after ``--warmup`` untimed ones. ``backend='auto'``
times the backends in its first step (its choices are cleared before its row, as in a fresh
process): that step is a warm-up, and the notes give the selection's overhead
(``autoselect_report().overhead_s``) and the backends it chose. On CUDA the table adds the peak
allocation of the timed steps (``torch.cuda.max_memory_allocated``: weights, optimizer state,
activations and the batch). Writes ``network.md`` and ``network.json`` to ``--out``. The default
is the committed ``benchmarks/results/<device>/`` only for the full default run (networks, batch,
repeats and warm-up all at their defaults); any other run goes to
``benchmarks/results/<device>-quick/``, as ``report.py --quick`` does, so a quick check cannot
overwrite the committed table.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import shlex
import statistics
import sys
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import time_calls  # noqa: E402
from benchmarks.report import code_version, cpsn_backends, device_label  # noqa: E402
from spikingjelly_mulfree.backends import autoselect_report, clear_autoselect_cache  # noqa: E402
from spikingjelly_mulfree.datasets import DATASETS  # noqa: E402
from spikingjelly_mulfree.train import build_parser, default_model_builder, resolve  # noqa: E402
from spikingjelly_mulfree.train.config import TrainConfig  # noqa: E402
from spikingjelly_mulfree.train.loop import train_one_epoch  # noqa: E402

NETWORKS = ("digits", "scifar10", "scifar100", "pcifar10", "shd")
DEFAULT_NETWORKS = ("scifar10", "shd")
T_OVERRIDE = {"shd": 100}
SHD_EVENT_RATE = 0.05  # mean events per sensor channel and 10 ms bin of the synthetic input
DEFAULT_BATCH = 64
DEFAULT_REPEATS = 5
DEFAULT_WARMUP = 2
RESULTS = Path(__file__).resolve().parent / "results"
MiB = 2.0**20


def make_batch(network: str, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``(x [T, N, *features], labels [N])`` shaped as ``network``'s loader yields them."""
    info = DATASETS[network]
    T = T_OVERRIDE.get(network, info.default_T)
    gen = torch.Generator().manual_seed(0)
    if network == "shd":
        from spikingjelly_mulfree.datasets.shd import CHANNEL_GROUP, SENSOR_CHANNELS

        rate = torch.full((T, batch, SENSOR_CHANNELS), SHD_EVENT_RATE)
        x = torch.poisson(rate, generator=gen).view(T, batch, -1, CHANNEL_GROUP).sum(-1)
    else:
        x = torch.randn((T, batch, *info.feature_shape), generator=gen)
    if tuple(x.shape[2:]) != info.feature_shape:
        raise AssertionError(f"{network}: made x {tuple(x.shape)}, expected features "
                             f"{info.feature_shape}")
    return x, torch.randint(info.num_classes, (batch,), generator=gen)


def neuron_rows(device: torch.device) -> list[tuple[str, str, str | None]]:
    """``(label, neuron, backend)`` of every row: the runnable CPSN backends, auto, PSN, LIF."""
    rows = [(f"cpsn[{b}]", "cpsn", b) for b in cpsn_backends(device)]
    return rows + [("cpsn[auto]", "cpsn", "auto"), ("psn", "psn", None), ("lif", "lif", None)]


def train_config(network: str, neuron: str, backend: str | None, T: int) -> TrainConfig:
    """The trainer's settings for ``network`` (its recipe) with ``neuron`` at length ``T`` (the
    sample's length sets a network's ``T``, but for variable-length data, whose network has a
    fixed ``T`` of its own)."""
    length = ["--model-option", f"T={T}"] if DATASETS[network].variable_length else []
    argv = ["--dataset", network, "--neuron", neuron, "--compare", "none", *length] + (
        ["--backend", backend] if backend else [])
    return resolve(build_parser().parse_args(argv))[0]


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The recipe's optimizer, with parameter groups as the trainer makes them."""
    if hasattr(model, "parameter_groups") and cfg.delay_lr is not None:
        groups = model.parameter_groups(cfg.lr, cfg.delay_lr, cfg.weight_decay)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def measure(network: str, neuron: str, backend: str | None, x: torch.Tensor, y: torch.Tensor,
            repeats: int, warmup: int) -> dict:
    """Time ``repeats`` training steps (after ``warmup``) of ``network`` with one neuron."""
    device = x.device
    info = DATASETS[network]
    cfg = train_config(network, neuron, backend, x.shape[0])
    torch.manual_seed(0)
    model = default_model_builder(cfg, x[:, 0].cpu(), info.num_classes).to(device)
    optimizer = make_optimizer(cfg, model)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    after_step = getattr(model, "after_optimizer_step", None)
    batch = [(x, y)]

    def step() -> None:
        train_one_epoch(model, batch, optimizer, scaler, device, info.num_classes,
                        label_smoothing=info.label_smoothing, after_step=after_step)

    if backend == "auto":
        clear_autoselect_cache()
    row: dict = {"model": type(model).__name__, "optimizer": cfg.optimizer,
                 "warmup_ms": [t * 1e3 for t in time_calls(step, device, warmup)]}
    if backend == "auto":
        report = autoselect_report()
        row["autoselect_overhead_s"] = report.overhead_s
        row["auto_chose"] = dict(Counter(c.chosen for c in report.choices))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_calls(step, device, repeats)
    row["times_ms"] = [t * 1e3 for t in times]
    row["ms"] = statistics.median(times) * 1e3
    if device.type == "cuda":
        row["peak_MiB"] = torch.cuda.max_memory_allocated(device) / MiB
    return row


def auto_note(row: dict) -> str:
    """Notes column of the ``cpsn[auto]`` row (empty for the others)."""
    if "auto_chose" not in row:
        return ""
    chose = ", ".join(f"{name} x{n}" for name, n in sorted(row["auto_chose"].items()))
    return (f"chose {chose} (layer situations); autoselect overhead "
            f"{row['autoselect_overhead_s']:.2f} s in the first step (warm-up, not timed)")


def meta_line(results: dict) -> str:
    """Device, threads, torch, code version, date, command and protocol, in one sentence."""
    threads = results["threads"]
    cpu_threads = f" ({threads} CPU threads)" if results["device_type"] == "cuda" else ""
    warm = results["warmup"]
    return (f"Measured on **{results['device']}**{cpu_threads} with torch {results['torch']}, "
            f"{results['date']}, code `{results['code']}`, by `{results['command']}`: one "
            f"training step (forward, loss, backward, optimizer step) at batch "
            f"{results['batch']}, median of {results['repeats']} after {warm} warm-up "
            f"step{'s' if warm > 1 else ''}.")


def markdown(results: dict) -> str:
    """``network.md``: a meta line, the table, and what each network was fed."""
    cuda = results["device_type"] == "cuda"
    head = "| network | neuron | ms/step | x PSN |" + (" peak MiB |" if cuda else "") + " notes |"
    rule = "|---|---|---:|---:|" + ("---:|" if cuda else "") + "---|"
    lines = [results["meta"], "", head, rule]
    inputs = []
    for net, entry in results["networks"].items():
        for label, row in entry["rows"].items():
            mem = f" {row['peak_MiB']:.0f} |" if cuda else ""
            lines.append(f"| {net} | {label} | {row['ms']:.1f} | {row['ratio_to_psn']:.2f} |"
                         f"{mem} {auto_note(row)} |")
        inputs.append(f"`{net}`: {entry['model']}, x {entry['x_shape']}, k={entry['k']}, "
                      f"{entry['optimizer']}")
    return "\n".join(lines) + "\n\nInputs: " + "; ".join(inputs) + ".\n"


def run(networks: list[str], device: torch.device, batch: int, repeats: int, warmup: int,
        log=print) -> dict:
    """Measure every network and neuron; the content of ``network.json`` (without meta)."""
    out: dict = {}
    for net in networks:
        x, y = make_batch(net, batch)
        x, y = x.to(device), y.to(device)
        entry: dict = {"x_shape": list(x.shape), "rows": {}}
        for label, neuron, backend in neuron_rows(device):
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            row = measure(net, neuron, backend, x, y, repeats, warmup)
            entry["rows"][label] = row
            log(f"  {net:9s} {label:12s} {row['ms']:10.1f} ms/step  {auto_note(row)}")
        psn = entry["rows"]["psn"]["ms"]
        for row in entry["rows"].values():
            row["ratio_to_psn"] = row["ms"] / psn
        cfg = train_config(net, "cpsn", None, x.shape[0])
        entry.update(model=entry["rows"]["psn"]["model"], k=cfg.k, optimizer=cfg.optimizer)
        out[net] = entry
    return out


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def default_out(device: torch.device, networks: list[str], batch: int, repeats: int,
                warmup: int, root: Path | None = None) -> Path:
    """``root/<device>`` (the committed results; ``root`` defaults to :data:`RESULTS`) for the
    full default run, else ``root/<device>-quick``."""
    root = RESULTS if root is None else root
    full = (list(networks) == list(DEFAULT_NETWORKS) and batch == DEFAULT_BATCH
            and repeats == DEFAULT_REPEATS and warmup == DEFAULT_WARMUP)
    return root / (device.type if full else f"{device.type}-quick")


def main(argv: list[str] | None = None) -> Path:
    """Parse ``argv``, measure, write ``network.md`` and ``network.json``; returns the folder."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(DEFAULT_NETWORKS),
                        help=f"data sets whose networks are timed (default: "
                             f"{' '.join(DEFAULT_NETWORKS)})")
    parser.add_argument("--batch", type=_positive, default=DEFAULT_BATCH,
                        help=f"samples per step (default {DEFAULT_BATCH}: about a minute per "
                             "network on one CPU thread)")
    parser.add_argument("--threads", type=_positive, metavar="N",
                        help="torch.set_num_threads(N) (default: torch's); use 1 on a shared CPU")
    parser.add_argument("--repeats", type=_positive, default=DEFAULT_REPEATS,
                        help=f"timed steps (median; default {DEFAULT_REPEATS})")
    parser.add_argument("--warmup", type=_positive, default=DEFAULT_WARMUP,
                        help=f"untimed steps first (default {DEFAULT_WARMUP}; >= 1: auto's "
                             "selection happens in the first)")
    parser.add_argument("--out", type=Path, help="results folder (default: the committed "
                        "benchmarks/results/<device>/ for the full default run, else "
                        "benchmarks/results/<device>-quick/)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible; use --device cpu")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = args.out or default_out(device, args.networks, args.batch, args.repeats, args.warmup)
    out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "benchmarks/bench_network.py", *argv])
    threads = torch.get_num_threads()
    print(f"device: {device_label(device)}; threads {threads}; batch {args.batch}", flush=True)
    networks = run(args.networks, device, args.batch, args.repeats, args.warmup,
                   log=lambda msg: print(msg, flush=True))
    results = {
        "device": device_label(device), "device_type": device.type, "threads": threads,
        "torch": torch.__version__, "code": code_version(), "command": command,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "batch": args.batch, "repeats": args.repeats, "warmup": args.warmup,
        "networks": networks,
    }
    results["meta"] = meta_line(results)
    (out / "network.json").write_text(json.dumps(results, indent=1))
    (out / "network.md").write_text(markdown(results))
    print(f"wrote {out / 'network.md'}", flush=True)
    return out


if __name__ == "__main__":
    main()
