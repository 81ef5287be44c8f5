"""The fixed cost of one layer: operations dispatched per call, and the time of a short one.

Usage::

    python benchmarks/bench_dispatch.py [--device cpu|cuda] [--shape T,N,C,L] [--threads N]

At short sequences a layer moves too few bytes for bandwidth to matter: its time is the number
of operations it launches (on a GPU each computing operation is a kernel launch) and the Python
around them. For one layer (default ``[4, 8, 64, 8]``, k=4, the paper's neuron: BatchNorm
threshold, power-of-two weights, ATan) this counts, with a ``TorchDispatchMode``:

* computing PyTorch operations (everything but views, allocations and other metadata-only
  operations, :data:`METADATA`);
* launches of our kernels (:data:`spikingjelly_mulfree.kernels.launch_counts`);

for a training step (forward and a backward fed a dense gradient, parameters' ``.grad`` reset
to ``None`` as ``zero_grad()`` does), an eval forward, an in-place inference step and, on a
GPU, the training step captured as CUDA graphs (``torch.cuda.make_graphed_callables``; a
replay launches through no Python, so those rows count what runs around it, not its kernels), for
CPSN on its kernel backend and on ``'torch'`` and for SpikingJelly's PSN; and times each (the
fastest of several runs, CUDA synchronised) as a ratio to PSN's.
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._timing import dense_grad, device_name, time_calls  # noqa: E402
from spikingjelly_mulfree import CPSN  # noqa: E402
from spikingjelly_mulfree.kernels import launch_counts  # noqa: E402

METADATA = frozenset({
    "alias", "as_strided", "detach", "empty", "empty_like", "empty_strided", "expand",
    "lift_fresh", "permute", "promote_types", "reshape", "select", "slice", "split", "squeeze",
    "t", "transpose", "unbind", "unsqueeze", "view", "_reshape_alias", "_unsafe_view",
})
"""ATen operations that launch nothing: views, allocations and type queries."""

SHAPE, K = (4, 8, 64, 8), 4


class _Counter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count(fn: Callable[[], object]) -> tuple[int, int, collections.Counter]:
    """``(computing torch ops, kernel launches, ops by name)`` of one call of ``fn``."""
    before = sum(launch_counts.values())
    with _Counter() as counter:
        fn()
    computing = sum(n for name, n in counter.ops.items() if name not in METADATA)
    return computing, sum(launch_counts.values()) - before, counter.ops


def fastest(fn: Callable[[], object], device: torch.device, runs: int = 5,
            calls: int = 50) -> float:
    """Seconds per call of ``fn``: the fastest of ``runs`` runs of ``calls`` calls."""
    def batch():
        for _ in range(calls):
            fn()

    return min(time_calls(batch, device, runs)) / calls


def _train_step(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    params = [p for p in module.parameters() if p.requires_grad]

    def step():
        for p in params:
            p.grad = None
        x.grad = None
        out = module(x)
        out.backward(dense_grad(out))

    return step


def _graphed_step(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """The training step of ``module`` captured as CUDA graphs (forward and backward, by
    ``torch.cuda.make_graphed_callables``, which warms up first): a step replays its launches
    without the Python that makes them. The capture happens at the first call."""
    step: list[Callable[[], None]] = []

    def graphed_step():
        if not step:
            step.append(_train_step(torch.cuda.make_graphed_callables(module, (x,)), x))
        step[0]()

    return graphed_step


def _eval_forward(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def forward():
        with torch.no_grad():
            module(x)

    return forward


def _inference_step(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step():
        with torch.no_grad():
            module(x[0])

    return step


def cases(shape: tuple[int, ...], device: torch.device, kernel_backend: str
          ) -> dict[tuple[str, str], Callable[[], None]]:
    """``(what, neuron) -> one call`` for every row of the table."""
    from spikingjelly.activation_based import neuron

    T, N, C, L = shape
    x = torch.randn(shape, device=device, requires_grad=True)
    out: dict[tuple[str, str], Callable[[], None]] = {}
    for backend in (kernel_backend, "torch"):
        name = f"CPSN[{backend}]"
        train = CPSN(C, k=K, backend=backend).to(device)
        out["training step", name] = _train_step(train, x)
        evaluated = CPSN(C, k=K, backend=backend).to(device).eval()
        out["eval forward", name] = _eval_forward(evaluated, x)
        stepping = CPSN(C, k=K, backend=backend, step_mode="s").to(device).eval()
        out["inference step", name] = _inference_step(stepping, x)
        if device.type == "cuda":
            graphed = CPSN(C, k=K, backend=backend).to(device)
            out["graphed step", name] = _graphed_step(graphed, x)
    psn = neuron.PSN(T).to(device)
    flat = x.detach().reshape(T, -1).requires_grad_()
    out["training step", "PSN"] = _train_step(psn, flat)
    out["eval forward", "PSN"] = _eval_forward(psn.eval(), flat)
    if device.type == "cuda":
        out["graphed step", "PSN"] = _graphed_step(neuron.PSN(T).to(device), flat)
    return out


def table(shape: tuple[int, ...], device: torch.device, kernel_backend: str) -> list[dict]:
    """One row per case: its counts, its time and the time's ratio to PSN's."""
    rows = []
    for (what, neuron_name), fn in cases(shape, device, kernel_backend).items():
        try:
            for _ in range(5):  # warm-up: builds, autoselect, caches, captures
                fn()
            computing, launches, _ = count(fn)
            seconds = fastest(fn, device)
        except Exception as err:  # one failed case must not cost the table (a GPU run is rare)
            rows.append({"what": what, "neuron": neuron_name, "error": f"{type(err).__name__}: "
                         f"{err}"})
            continue
        rows.append({"what": what, "neuron": neuron_name, "torch_ops": computing,
                     "launches": launches, "seconds": seconds})
    for row in rows:
        psn = next((r for r in rows if r["what"] == row["what"] and r["neuron"] == "PSN"), None)
        ok = "seconds" in row and psn is not None and "seconds" in psn
        row["vs_psn"] = row["seconds"] / psn["seconds"] if ok else None
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shape", default=",".join(map(str, SHAPE)),
                        help="T,N,C,L of the layer's input (default %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shape = tuple(int(v) for v in args.shape.split(","))
    if len(shape) != 4:
        parser.error(f"--shape: expected T,N,C,L, got {args.shape!r}")
    kernel_backend = "cupy" if device.type == "cuda" else "cpu"
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    print(f"layer input {list(shape)}, k={K}, BN threshold, power-of-two weights, ATan")
    print(f"{'call':16s} {'neuron':12s} {'torch ops':>9s} {'launches':>8s} {'us':>9s} "
          f"{'x PSN':>7s}")
    rows = table(shape, device, kernel_backend)
    for r in rows:
        if "error" in r:
            print(f"{r['what']:16s} {r['neuron']:12s} failed: {r['error']}")
            continue
        ratio = "" if r["vs_psn"] is None else f"{r['vs_psn']:7.2f}"
        print(f"{r['what']:16s} {r['neuron']:12s} {r['torch_ops']:9d} {r['launches']:8d} "
              f"{r['seconds'] * 1e6:9.1f} {ratio}")
    if any("error" in r for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
