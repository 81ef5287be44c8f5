"""Two builds of the host kernels side by side, on every launch of one CPSN training step.

Usage::

    python benchmarks/bench_host_ab.py --b=-DSJM_TB=8            # the default build against
                                                                # one with extra compiler flags
    python benchmarks/bench_host_ab.py --lib-a OLD.so --lib-b NEW.so   # two built libraries
    python benchmarks/bench_host_ab.py --shape 100,64,256,1 --k 2 --rounds 20 --dtype float16

A kernel change on a shared, noisy CPU is measured best within one process, on the same inputs,
the two libraries taking turns: this runs one training step of a CPSN layer (BatchNorm threshold,
power-of-two weights, ATan, ``backend='cpu'``, one thread) and, at each of its kernel launches,
calls the same kernel with the same arguments from library A and from library B ``--rounds``
times each, alternating which goes first, then lets the step go on. It prints each launch's
fastest time per library, their ratio ``B/A`` and the sums. Flags (``--a``, ``--b``) build a
library the way ``$SPIKINGJELLY_MULFREE_CXXFLAGS`` would (cached like any other build);
``--lib-a`` / ``--lib-b`` take a built one instead, e.g. from a ``git worktree`` of an older
commit (``python -c "from spikingjelly_mulfree.kernels import host; print(host.build())"`` there
prints its path). Both libraries must tile as many columns per thread as the default build
(``SJM_COLS``), whose grids the replayed launches carry. A launch that adds to its output (the
second ``dW`` reduction) computes nonsense after the first replay; only its time is of interest
here.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._timing import dense_grad  # noqa: E402
from spikingjelly_mulfree import CPSN  # noqa: E402
from spikingjelly_mulfree.kernels import host  # noqa: E402


def load(flags: str, path: str | None) -> host.HostLauncher:
    """A launcher of the library at ``path``, else of the one built with ``flags`` added to the
    default's."""
    if path is None:
        with mock.patch.dict(os.environ, {host.CXXFLAGS_ENV: flags}):
            path = str(host.build())
    elif not Path(path).is_file():
        raise SystemExit(f"--lib-a / --lib-b: no file {path!r}; pass the path of a built "
                         f"host library (host.build() prints it)")
    return host.HostLauncher(Path(path))


def compare(a: host.HostLauncher, b: host.HostLauncher, shape: tuple[int, ...], k: int,
            dtype: torch.dtype, rounds: int) -> list[tuple[str, float, float]]:
    """``(kernel, seconds with A, seconds with B)`` per launch of one training step, in order."""
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    layer = CPSN(shape[2], k=k, backend="cpu").to(dtype)
    out = layer(x)  # builds the library, warms up
    out.backward(dense_grad(out))
    lib = host.host_launcher().lib
    own = lib.sjm_launch
    rows: list[tuple[str, float, float]] = []

    def replay(name: bytes, packed: bytes) -> int:
        best = [float("inf"), float("inf")]
        for r in range(rounds):
            for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                start = time.perf_counter()
                (a, b)[i].lib.sjm_launch(name, packed)
                best[i] = min(best[i], time.perf_counter() - start)
        rows.append((name.decode(), best[0], best[1]))
        return own(name, packed)

    lib.sjm_launch = replay
    try:
        out = layer(x)
        out.backward(dense_grad(out))
    finally:
        lib.sjm_launch = own
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default="", help="extra compiler flags of library A")
    parser.add_argument("--b", default="", help="extra compiler flags of library B")
    parser.add_argument("--lib-a", help="a built library for A (instead of --a)")
    parser.add_argument("--lib-b", help="a built library for B (instead of --b)")
    parser.add_argument("--shape", default="32,32,128,32", help="T,N,C,L (default %(default)s)")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--dtype", default="float32",
                        choices=("float32", "float64", "float16", "bfloat16"))
    parser.add_argument("--rounds", type=int, default=10, help="calls per library and launch")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    if len(shape) != 4 or min(shape) < 1:
        parser.error(f"--shape: expected four positive sizes T,N,C,L, got {args.shape!r}")
    if args.rounds < 1:
        parser.error(f"--rounds: expected at least 1, got {args.rounds}")
    torch.set_num_threads(1)
    a, b = load(args.a, args.lib_a), load(args.b, args.lib_b)
    cols = {launcher.cols for launcher in (a, b, host.host_launcher())}
    if len(cols) > 1:
        raise SystemExit(
            f"the libraries tile {sorted(cols)} columns per thread: the replayed launches' grids "
            f"are sized for the default build's {host.host_launcher().cols}, so a library with "
            f"another SJM_COLS would cover other columns; time such builds in separate runs of "
            f"benchmarks/bench_passes.py instead")
    rows = compare(a, b, shape, args.k, getattr(torch, args.dtype), args.rounds)
    print(f"layer {list(shape)}, k={args.k}, {args.dtype}, one thread; fastest of {args.rounds}")
    print(f"{'kernel':34s} {'A (us)':>11s} {'B (us)':>11s} {'B/A':>6s}")
    for name, t_a, t_b in rows:
        print(f"{name:34s} {t_a * 1e6:11.2f} {t_b * 1e6:11.2f} {t_b / t_a:6.2f}")
    total_a, total_b = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'sum':34s} {total_a * 1e6:11.2f} {total_b * 1e6:11.2f} {total_b / total_a:6.2f}")


if __name__ == "__main__":
    main()
