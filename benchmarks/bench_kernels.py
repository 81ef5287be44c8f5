"""The shift-and-add kernels on this machine: ``backend='cpu'`` (host build of the CUDA
sources) and, with a GPU, ``backend='cupy'`` and ``'cupy-shift'`` (the taps as exponent adds),
against ``backend='torch'``, SpikingJelly's PSN and
the memory floor (forward + backward of ``x * 1.0``), side by side in one run.

Usage::

    python benchmarks/bench_kernels.py [--device cpu|cuda] [--repeats 7] [--threads N] [--quick]

One CPSN layer in training mode (BatchNorm threshold, power-of-two weights), forward +
backward, on the issue's shapes: sequential CIFAR ``[T=32, N=32, C=128, L=32]`` with k=16 and
SHD ``[T=100, N=64, C=256]`` with k=2. Prints median milliseconds, the ratio to PSN and to the
floor, and the peak memory of forward + backward above the input (``_timing.peak_bytes``).
Candidates are timed round-robin (one run each per round, median over rounds), so a change of
load on a shared machine affects all of them alike.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from spikingjelly.activation_based import neuron

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._timing import device_name, peak_bytes, time_fwd_bwd  # noqa: E402
from spikingjelly_mulfree import CPSN  # noqa: E402

SHAPES = {"sequential CIFAR": ((32, 32, 128, 32), 16), "SHD": ((100, 64, 256), 2)}
QUICK = {"sequential CIFAR": ((32, 8, 128, 32), 16), "SHD": ((100, 16, 256), 2)}


def candidates(shape: tuple[int, ...], k: int, device: torch.device) -> dict:
    T, C = shape[0], shape[2]
    flat = (lambda f: (lambda x: f(x.flatten(2)))) if len(shape) > 3 else (lambda f: f)
    out = {"floor (x*1.0)": lambda x: x * 1.0, "SJ PSN": flat(neuron.PSN(T).to(device))}
    kernels = ("cupy", "cupy-shift") if device.type == "cuda" else ("cpu",)
    for name in ("torch", *kernels):
        out[f"CPSN k={k} [{name}]"] = CPSN(C, k=k, backend=name).to(device)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smaller batches (a smoke run)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    for title, (shape, k) in (QUICK if args.quick else SHAPES).items():
        x = torch.randn(shape, device=device, requires_grad=True)
        print(f"\n{title}: x={list(shape)}, k={k}, fp32, training, threshold='bn'")
        print(f"{'':24s} {'ms':>8s} {'x PSN':>6s} {'x floor':>8s} {'MiB':>7s} {'x PSN':>6s}")
        fns = candidates(shape, k, device)
        for fn in fns.values():  # warm-up (and the host build / autoselect, if any)
            time_fwd_bwd(fn, x, repeats=1, warmup=1)
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(args.repeats):  # round-robin: load changes hit every candidate alike
            for name, fn in fns.items():
                times[name].append(time_fwd_bwd(fn, x, repeats=1, warmup=0))
        rows = {}
        for name, fn in fns.items():
            mem = peak_bytes(fn, x)
            rows[name] = (statistics.median(times[name]), mem)
        (t_psn, m_psn), t_floor = rows["SJ PSN"], rows["floor (x*1.0)"][0]
        for name, (t, mem) in rows.items():
            print(f"{name:24s} {t * 1e3:8.2f} {t / t_psn:6.2f} {t / t_floor:8.2f} "
                  f"{mem / 2**20:7.1f} {mem / m_psn:6.2f}")


if __name__ == "__main__":
    main()
