"""Achieved memory bandwidth of each kernel pass of one CPSN training step, against a copy.

Usage::

    python benchmarks/bench_passes.py [--device cpu|cuda] [--repeats N] [--threads N] [--k K]
                                      [--quick]

On the sequential-CIFAR layer ``[T=32, N=32, C=128, L=32]``, k=16 (``--k``), fp32, BatchNorm threshold
with power-of-two weights (multiplied, as the ``'cupy'`` and ``'cpu'`` backends do; on a GPU the
two tapped passes are timed again as exponent adds, as ``'cupy-shift'`` runs them, in rows
outside the step's sum), it times the four kernel passes of an eager training step
(:mod:`spikingjelly_mulfree.kernels.ops`, each with its reductions) and divides the bytes each
pass must move (see the roofline in ``docs/kernels.md``) by its time:

* moments (forward): read X;
* charge + fire (forward): read X, write the spikes;
* fire backward (ATan, keeping dL/dH): read X and dL/dS, write dL/dH;
* moments backward, adding the fire op's input gradient: read X and dL/dH, write dX (in
  training over dL/dH, here into a new tensor so that every run sees the same input; on the GPU
  its own dL/dH0 also goes to memory and back: 8 bytes more per element).

Every pass allocates its outputs, as in training.

The reference is the bandwidth of ``y.copy_(x)`` on a tensor far larger than the caches
(256 MiB on a CPU, 1 GiB on a GPU): the share of it a pass reaches is the issue's measure (at
least 70 % on a GPU). Times are medians after a warm-up, CUDA synchronised around each run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._timing import device_name, time_calls  # noqa: E402
from spikingjelly_mulfree.functional.quantize import quantize_pow2  # noqa: E402
from spikingjelly_mulfree.kernels import ops  # noqa: E402

SHAPE, K = (32, 32, 128, 32), 16
QUICK_SHAPE = (32, 8, 128, 32)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` after one warm-up call."""
    fn()
    return statistics.median(time_calls(fn, device, repeats))


def copy_bandwidth(device: torch.device, repeats: int) -> float:
    """Bytes per second of ``y.copy_(x)`` (read + write) on a tensor larger than the caches."""
    n = (2**30 if device.type == "cuda" else 2**28) // 4
    x = torch.randn(n, device=device)
    y = torch.empty_like(x)
    return 8 * n / median_seconds(lambda: y.copy_(x), device, repeats)


def passes(shape: tuple[int, ...], device: torch.device,
           k: int = K) -> dict[str, tuple[Callable, int, bool]]:
    """``name -> (run one pass, bytes per element it must move, whether it is one of the
    training step's passes)`` for one layer."""
    T, N, C, S = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device)
    grad_s = torch.randn(shape, generator=gen).to(device)
    latent = (torch.rand(C, k, generator=gen) - 0.5).to(device)
    fused = quantize_pow2(latent * 0.7)
    bias = torch.randn(C, generator=gen).to(device)
    mean, _ = ops.moments(x, latent, 1)
    g = ops.backward(x, fused, bias, 1, ops.ATAN, grad_s=grad_s, alpha=2.0, keep_g=True)[0]
    grad_mean, grad_var = torch.randn(C, device=device), torch.randn(C, device=device)
    extra_gpu = 8 if device.type == "cuda" else 0
    out = {
        "moments": (lambda: ops.moments(x, latent, 1), 4, True),
        "charge + fire": (lambda: ops.charge_fire(x, fused, bias, 1), 8, True),
        "fire backward": (lambda: ops.backward(x, fused, bias, 1, ops.ATAN, grad_s=grad_s,
                                               alpha=2.0, keep_g=True), 12, True),
        "moments backward": (lambda: ops.moments_backward(
            x, latent, 1, mean, grad_mean, grad_var, extra=(g, fused)),
            12 + extra_gpu, True),
    }
    if device.type == "cuda":  # what backend='cupy-shift' runs instead (not in the step's sum)
        out["exp. add: charge + fire"] = (
            lambda: ops.charge_fire(x, fused, bias, 1, mul_free=True), 8, False)
        out["exp. add: fire backward"] = (
            lambda: ops.backward(x, fused, bias, 1, ops.ATAN, grad_s=grad_s, alpha=2.0,
                                 mul_free=True, keep_g=True), 12, False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=0, help="runs per pass (0: 50 GPU, 7 CPU)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--k", type=int, default=K, help=f"order of the layer (default {K}); "
                        "k=1 shows the part of a pass that does not depend on the taps")
    parser.add_argument("--quick", action="store_true", help="batch 8 (a smoke run)")
    args = parser.parse_args()
    if args.k < 1:
        parser.error(f"--k: expected an integer >= 1, got {args.k}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = args.repeats or (50 if device.type == "cuda" else 7)
    shape = QUICK_SHAPE if args.quick else SHAPE
    elements = shape[0] * shape[1] * shape[2] * shape[3]
    peak = copy_bandwidth(device, repeats)
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    print(f"layer {list(shape)}, k={args.k}, fp32, BN threshold, power-of-two weights; reference: "
          f"copy of a large tensor {peak / 1e9:.1f} GB/s")
    print(f"{'pass':20s} {'B/el':>5s} {'ms':>9s} {'GB/s':>9s} {'% copy':>7s}")
    total_s = total_b = 0.0
    for name, (run, per_element, in_step) in passes(shape, device, args.k).items():
        seconds = median_seconds(run, device, repeats)
        moved = per_element * elements
        if in_step:
            total_s += seconds
            total_b += moved
        print(f"{name:20s} {per_element:5d} {seconds * 1e3:9.3f} {moved / seconds / 1e9:9.1f} "
              f"{100 * moved / seconds / peak:6.1f}%")
    print(f"{'training step':20s} {int(total_b / elements):5d} {total_s * 1e3:9.3f} "
          f"{total_b / total_s / 1e9:9.1f} {100 * total_b / total_s / peak:6.1f}%")


if __name__ == "__main__":
    main()
