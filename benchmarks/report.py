"""Regenerate the benchmark tables and plots in ``benchmarks/results/<device>/``.

One command measures, side by side in one process, every runnable CPSN backend against
SpikingJelly's PSN, MaskedPSN, SlidingPSN and multi-step LIF:

* forward + backward time (fastest of several runs) and training memory against T
  (``sweep_T``);
* the same against the order k at the sequential-CIFAR layer shape (``sweep_k``; PSN and LIF
  have no k and appear as flat lines); ``headline.md`` is its k = 16 row with ratios to PSN;
* step-by-step inference: state memory and steps per second of sliding PSN k = 32 against CPSN
  k = 4 at T = 32 (the analogue of the paper's Table 5).

Each run writes ``results.json`` (raw numbers), markdown tables, ``meta.md`` (device, date,
command), ``report.md`` (all of it) and PNG plots. Memory is the peak allocation of forward +
backward above the input: CUDA's peak counter on a GPU, the allocations and frees PyTorch's
profiler records on the CPU (see ``_timing.peak_bytes``).

Usage::

    python benchmarks/report.py              # full run (minutes on a CPU)
    python benchmarks/report.py --quick      # tiny shapes, seconds: checks the pipeline
    python benchmarks/report.py --device cuda --out benchmarks/results
    python benchmarks/report.py --readme     # also refresh the README's headline table
    python benchmarks/report.py --threads 1  # a CPU shared with other jobs: avoid stalls
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from spikingjelly.activation_based import functional, neuron, surrogate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import device_name, peak_bytes, peak_during, time_fwd_bwd  # noqa: E402
from spikingjelly_mulfree import CPSN, backends  # noqa: E402

MiB = 2.0**20


@dataclass(frozen=True)
class Config:
    """Shapes of one report run (``[T, N, C, L]`` inputs)."""

    T_values: tuple[int, ...]
    T_shape: tuple[int, int, int]
    T_k: int
    k_values: tuple[int, ...]
    k_T: int
    k_shape: tuple[int, int, int]
    step_T: int
    step_shape: tuple[int, int, int]
    step_pairs: tuple[tuple[str, int], ...]
    time_budget_s: float


FULL = Config(
    T_values=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    T_shape=(8, 64, 8),
    T_k=4,
    k_values=(1, 2, 4, 8, 16, 32),
    k_T=32,
    k_shape=(32, 128, 32),
    step_T=32,
    step_shape=(32, 128, 32),
    step_pairs=(("SlidingPSN", 32), ("CPSN", 4), ("CPSN", 32), ("LIF", 1)),
    time_budget_s=2.0,
)
QUICK = Config(
    T_values=(2, 8),
    T_shape=(2, 4, 2),
    T_k=2,
    k_values=(1, 4),
    k_T=8,
    k_shape=(2, 4, 2),
    step_T=4,
    step_shape=(2, 4, 2),
    step_pairs=(("SlidingPSN", 4), ("CPSN", 2), ("LIF", 1)),
    time_budget_s=0.05,
)


# --- the neurons compared ------------------------------------------------------------------
Builder = Callable[[int, int, int], torch.nn.Module]


def code_version() -> str:
    """``git describe``-like label of the measured code: short commit, ``+dirty`` if modified."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                                capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + ("+dirty" if dirty else "")


def device_label(device: torch.device) -> str:
    """:func:`device_name` with the thread count in good English."""
    return device_name(device).replace(", 1 threads)", ", 1 thread)")


def cpsn_backends(device: torch.device) -> list[str]:
    """Registered CPSN backends that can run here ('auto' is a chooser, not an implementation)."""
    probe = torch.zeros(2, 1, 1, 1, device=device)
    names = []
    for name in backends.backend_names():
        if name == "auto":
            continue
        try:
            backends.get_backend(name, probe)
        except (RuntimeError, ImportError):
            continue
        names.append(name)
    return names


def builders(device: torch.device) -> dict[str, tuple[Builder, bool]]:
    """``label -> (build(T, k, C), depends_on_k)``, all in multi-step mode with ATan."""
    out: dict[str, tuple[Builder, bool]] = {}
    for name in cpsn_backends(device):
        out[f"CPSN[{name}]"] = (
            lambda T, k, C, name=name: CPSN(channels=C, k=k, backend=name), True)
    out["PSN"] = (lambda T, k, C: neuron.PSN(T=T, surrogate_function=surrogate.ATan()), False)
    out["MaskedPSN"] = (lambda T, k, C: neuron.MaskedPSN(
        k=k, T=T, surrogate_function=surrogate.ATan(), step_mode="m"), True)
    out["SlidingPSN"] = (lambda T, k, C: neuron.SlidingPSN(
        k=k, surrogate_function=surrogate.ATan(), step_mode="m"), True)
    out["LIF"] = (lambda T, k, C: neuron.LIFNode(
        surrogate_function=surrogate.ATan(), step_mode="m"), False)
    out["floor (x*1)"] = (lambda T, k, C: _Floor(), False)
    return out


class _Floor(torch.nn.Module):
    """Memory floor: one read and one write of the tensor forward, the same backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


# --- measurement -----------------------------------------------------------------------------
def measure(layer: torch.nn.Module, x: torch.Tensor, budget_s: float) -> tuple[float, float]:
    """``(seconds of forward+backward, memory bytes)`` of ``layer`` on ``x``.

    The time is the fastest of several runs (after a warm-up), not their median: on a shared
    machine the slower runs mostly measure the other jobs, and the fastest is the closest to the
    layer's own cost.
    """

    def run(inp: torch.Tensor) -> torch.Tensor:
        functional.reset_net(layer)
        return layer(inp)

    probe = time_fwd_bwd(run, x, repeats=1, warmup=1)
    repeats = max(1 if budget_s < 0.1 else 5, min(25, int(budget_s / max(probe, 1e-6))))
    seconds = min(time_fwd_bwd(run, x, repeats=1, warmup=0) for _ in range(repeats))
    x.grad = None
    memory = peak_bytes(run, x)
    x.grad = None
    return seconds, float(memory)


def sweep(cfg: Config, device: torch.device, axis: str, log: Callable[[str], None]) -> dict:
    """Time and memory of every neuron over T (``axis='T'``) or over k (``axis='k'``)."""
    table: dict[str, dict[str, list]] = {}
    values = cfg.T_values if axis == "T" else cfg.k_values
    N, C, L = cfg.T_shape if axis == "T" else cfg.k_shape
    for label, (build, uses_k) in builders(device).items():
        row: dict[str, list] = {"x": [], "ms": [], "MiB": []}
        for v in values:
            T, k = (v, cfg.T_k) if axis == "T" else (cfg.k_T, v)
            torch.manual_seed(0)
            layer = build(T, k, C).to(device)
            x = torch.randn(T, N, C, L, device=device, requires_grad=True)
            sec, mem = measure(layer, x, cfg.time_budget_s)
            row["x"].append(v)
            row["ms"].append(sec * 1e3)
            row["MiB"].append(mem / MiB)
            log(f"  {axis}={v:<5} {label:<16} {sec * 1e3:10.3f} ms {mem / MiB:10.2f} MiB")
        if axis == "k" and not uses_k:
            # the same layer at every k: one value, the fastest of all those runs
            row = {"x": values[:1], "ms": [min(row["ms"])], "MiB": [row["MiB"][0]]}
        table[label] = row
    return table


def _state_bytes(layer: torch.nn.Module) -> int:
    total = 0
    for name in getattr(layer, "_memories", {}):
        value = getattr(layer, name)
        items = value if isinstance(value, (list, tuple)) else [value]
        total += sum(t.numel() * t.element_size() for t in items if isinstance(t, torch.Tensor))
    return total


@torch.no_grad()
def single_step(cfg: Config, device: torch.device, log: Callable[[str], None]) -> dict:
    """Step-by-step inference over ``step_T`` steps: state bytes, the peak allocation of one
    sequence (state, outputs and temporaries; :func:`~benchmarks._timing.peak_during`), steps/s."""
    import time

    N, C, L = cfg.step_shape
    rows = {}
    for kind, k in cfg.step_pairs:
        if kind == "CPSN":
            layer = CPSN(channels=C, k=k, step_mode="s")
        elif kind == "SlidingPSN":
            layer = neuron.SlidingPSN(k=k, surrogate_function=surrogate.ATan(), step_mode="s")
        else:
            layer = neuron.LIFNode(surrogate_function=surrogate.ATan(), step_mode="s")
        layer = layer.to(device).eval()
        xs = torch.randn(cfg.step_T, N, C, L, device=device)
        label = f"{kind} k={k}" if kind != "LIF" else "LIF"

        def steps() -> None:
            for t in range(cfg.step_T):
                layer(xs[t])

        def run() -> None:
            functional.reset_net(layer)
            steps()

        run()
        functional.reset_net(layer)  # the state is freed here, so the peak counts its allocation
        peak = peak_during(steps, device) / MiB
        times = []
        for _ in range(7 if cfg is FULL else 2):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
        sec = min(times)
        rows[label] = {"state_MiB": _state_bytes(layer) / MiB, "peak_MiB": peak,
                       "steps_per_s": cfg.step_T / sec}
        log(f"  {label:<16} state {rows[label]['state_MiB']:8.2f} MiB  "
            f"{rows[label]['steps_per_s']:10.1f} steps/s")
    return rows


# --- output ----------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def sweep_markdown(table: dict, axis: str, mem_label: str) -> str:
    values = sorted({v for row in table.values() for v in row["x"]})
    lines = []
    for key, unit in (("ms", "forward+backward time (ms)"), ("MiB", mem_label)):
        lines += [f"**{unit}**", "", "| neuron | " + " | ".join(f"{axis}={v}" for v in values)
                  + " |", "|---|" + "---:|" * len(values)]
        for label, row in table.items():
            by_x = dict(zip(row["x"], row[key]))
            flat = len(row["x"]) == 1 and axis == "k"
            cells = [_fmt(by_x[row["x"][0]] if flat else by_x.get(v)) for v in values]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def headline_markdown(table: dict, k: int, mem_label: str) -> str:
    def at(row: dict, key: str) -> float:
        by_x = dict(zip(row["x"], row[key]))
        return by_x.get(k, row[key][0] if len(row["x"]) == 1 else float("nan"))

    psn = table["PSN"]
    lines = [f"| neuron (k={k}) | time (ms) | x PSN | {mem_label} | x PSN |",
             "|---|---:|---:|---:|---:|"]
    for label, row in table.items():
        t, m = at(row, "ms"), at(row, "MiB")
        lines.append(f"| {label} | {_fmt(t)} | {_fmt(t / at(psn, 'ms'))} | {_fmt(m)} | "
                     f"{_fmt(m / at(psn, 'MiB'))} |")
    return "\n".join(lines) + "\n"


def single_step_markdown(rows: dict) -> str:
    lines = ["| neuron | state (MiB) | peak (MiB) | steps/s |", "|---|---:|---:|---:|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {_fmt(r['state_MiB'])} | {_fmt(r['peak_MiB'])} | "
                     f"{_fmt(r['steps_per_s'])} |")
    return "\n".join(lines) + "\n"


def plot_sweep(table: dict, axis: str, title: str, mem_label: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    all_x = sorted({v for row in table.values() for v in row["x"]})
    for label, row in table.items():
        style = "--" if label.startswith("floor") else "-"
        for ax, key in zip(axes, ("ms", "MiB")):
            if axis == "k" and len(row["x"]) == 1:
                ax.plot(all_x, [row[key][0]] * len(all_x), ":", label=f"{label} (no k)")
            else:
                ax.plot(row["x"], row[key], style, marker="o", ms=3, label=label)
    for ax, key, ylabel in zip(axes, ("ms", "MiB"), ("forward + backward time (ms)", mem_label)):
        ax.set_xscale("log", base=2)
        values = [v for row in table.values() for v in row[key] if v > 0]
        if values and max(values) / min(values) > 20:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlabel("time steps T" if axis == "T" else "order k (taps)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_single_step(rows: dict, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, key, color, ylabel in (
        (axes[0], "state_MiB", "tab:blue", "neuron state (MiB)"),
        (axes[1], "steps_per_s", "tab:green", "inference steps per second"),
    ):
        bars = ax.bar(labels, [rows[lb][key] for lb in labels], color=color)
        ax.bar_label(bars, labels=[_fmt(rows[lb][key]) for lb in labels], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", labelrotation=20)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, out: Path) -> None:
    """Markdown tables and PNGs from ``results`` (the content of ``results.json``)."""
    dev, mem = results["device"], results["memory_label"]
    cfg = results["config"]
    (out / "sweep_T.md").write_text(sweep_markdown(results["sweep_T"], "T", mem))
    (out / "sweep_k.md").write_text(sweep_markdown(results["sweep_k"], "k", mem))
    head_k = 16 if 16 in cfg["k_values"] else cfg["k_values"][-1]
    (out / "headline.md").write_text(headline_markdown(results["sweep_k"], head_k, mem))
    (out / "single_step.md").write_text(single_step_markdown(results["single_step"]))
    N, C, L = cfg["T_shape"]
    plot_sweep(results["sweep_T"], "T",
               f"Sequence-length sweep, input [T, {N}, {C}, {L}], fp32, k={cfg['T_k']} (CPSN, "
               f"MaskedPSN, SlidingPSN) - {dev}", mem, out / "sweep_T.png")
    N, C, L = cfg["k_shape"]
    plot_sweep(results["sweep_k"], "k",
               f"Order sweep at [T={cfg['k_T']}, {N}, {C}, {L}], fp32 - {dev}", mem,
               out / "sweep_k.png")
    N, C, L = cfg["step_shape"]
    plot_single_step(results["single_step"],
                     f"Step-by-step inference, T={cfg['step_T']}, [N, C, L]=[{N}, {C}, {L}] - "
                     f"{dev}", out / "single_step.png")
    meta = (f"Measured on **{dev}** with torch {results['torch']}, {results['date']}, code "
            f"`{results.get('code', 'unknown')}`, by `{results['command']}`; CPSN backends: "
            f"{', '.join(results.get('backends', []))}.\n")
    (out / "meta.md").write_text(meta)
    header = "# Benchmark report\n\n" + meta + "\n"
    shape_T = ", ".join(str(v) for v in cfg["T_shape"])
    shape_k = ", ".join(str(v) for v in cfg["k_shape"])
    body = (f"## Against T (k={cfg['T_k']}, input [T, {shape_T}])\n\n"
            + (out / "sweep_T.md").read_text() + "\n![](sweep_T.png)\n\n"
            + f"## Against k (input [{cfg['k_T']}, {shape_k}])\n\n"
            + (out / "sweep_k.md").read_text() + "\n![](sweep_k.png)\n\n"
            + f"## Headline (k={head_k})\n\n" + (out / "headline.md").read_text()
            + f"\n## Step-by-step inference (T={cfg['step_T']})\n\n"
            + (out / "single_step.md").read_text() + "\n![](single_step.png)\n")
    (out / "report.md").write_text(header + body)


README_START, README_END = "<!-- benchmark-headline:start -->", "<!-- benchmark-headline:end -->"


def update_readme(readme: Path, out: Path) -> bool:
    """Replace the block between the README's headline markers with ``out``'s headline table.

    Returns ``False`` (and leaves the file alone) when the markers are missing.
    """
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    rel = out.resolve().relative_to(readme.resolve().parent)
    block = (f"{README_START}\n{(out / 'meta.md').read_text()}\n"
             f"{(out / 'headline.md').read_text()}\n"
             f"![forward+backward time and memory against T]({rel.as_posix()}/sweep_T.png)\n"
             f"{README_END}")
    readme.write_text(head + block + tail)
    return True


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes (pipeline check)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="results folder; a sub-folder per device kind is written")
    parser.add_argument("--replot", type=Path, metavar="RESULTS_JSON",
                        help="only rewrite the tables and plots from an earlier results.json")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads for torch and the host kernels (default: torch's); "
                             "use 1 on a machine shared with other jobs, where multithreaded "
                             "ops stall on oversubscribed cores")
    parser.add_argument("--readme", action="store_true",
                        help="also copy the headline table into README.md (between its markers)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if args.replot is not None:
        write_report(json.loads(args.replot.read_text()), args.replot.parent)
        if args.readme:
            update_readme(readme, args.replot.parent)
        return args.replot.parent
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected an integer >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible; use --device cpu")
    cfg = QUICK if args.quick else FULL
    out = args.out / (f"{device.type}-quick" if args.quick else device.type)
    out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, flush=True)

    log(f"device: {device_label(device)}; CPSN backends: {cpsn_backends(device)}")
    mem_label = "peak memory, fwd+bwd (MiB)"
    results = {
        "device": device_label(device),
        "torch": torch.__version__,
        "code": code_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/report.py" + (" --quick" if args.quick else "")
        + (f" --device {args.device}" if args.device != "cpu" else "")
        + (f" --threads {args.threads}" if args.threads is not None else ""),
        "memory_label": mem_label,
        "backends": cpsn_backends(device),
        "config": {k: v for k, v in cfg.__dict__.items()},
    }
    log("sweep over T")
    results["sweep_T"] = sweep(cfg, device, "T", log)
    log("sweep over k")
    results["sweep_k"] = sweep(cfg, device, "k", log)
    log("single-step inference")
    results["single_step"] = single_step(cfg, device, log)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, out)
    if args.readme and not update_readme(readme, out):
        log(f"README.md has no {README_START} ... {README_END} block: not updated")
    log(f"wrote {out}")
    return out


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
