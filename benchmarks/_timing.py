"""Shared measurement helpers for the benchmark scripts (not part of the package).

* :func:`time_fwd_bwd` — median wall time of forward + backward after warm-up, synchronising
  CUDA when the input lives there. The backward is fed a dense random gradient (made once per
  output shape, outside the timed region), as in training — not the broadcast scalar of
  ``out.sum().backward()``, which a kernel could read once instead of per element.
* :func:`time_calls` — wall time of each call of a no-argument function (a whole training step),
  synchronising CUDA around each call; warm-up is the caller's (call it, discard the times).
* :func:`peak_bytes` — the peak allocation of one forward + backward above what was allocated
  before (:func:`peak_during` of any call): ``torch.cuda.max_memory_allocated`` on a GPU; on the
  CPU, which keeps no peak counter, the running sum of the allocations and frees that PyTorch's
  profiler records (``profile_memory=True``), in the order they happened.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from typing import Callable

import torch


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


_GRADS: dict[tuple, torch.Tensor] = {}


def dense_grad(out: torch.Tensor) -> torch.Tensor:
    """A fixed random gradient shaped like ``out`` (cached per shape, dtype and device)."""
    key = (tuple(out.shape), out.dtype, out.device)
    if key not in _GRADS:
        gen = torch.Generator(device="cpu").manual_seed(0)
        _GRADS[key] = torch.randn(out.shape, generator=gen).to(out.device, out.dtype)
    return _GRADS[key]


def time_fwd_bwd(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    repeats: int = 7,
    warmup: int = 2,
    backward: bool = True,
) -> float:
    """Median seconds of ``fn(x)`` (+ backward) over ``repeats`` runs."""
    times = []
    for i in range(warmup + repeats):
        if x.grad is not None:
            x.grad = None
        _sync(x)
        t0 = time.perf_counter()
        out = fn(x)
        if backward:
            key = (tuple(out.shape), out.dtype, out.device)
            if key not in _GRADS:
                pause = time.perf_counter()
                dense_grad(out)
                t0 += time.perf_counter() - pause
            out.backward(dense_grad(out))
        _sync(x)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_calls(fn: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn()``, CUDA synchronised before and after."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


@contextlib.contextmanager
def _stderr_silenced():
    """File descriptor 2 sent to /dev/null: the profiler's C++ side prints a line at every start
    and stop (and a GPU-count error on a machine without one). Exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_during(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated on ``device`` while ``fn()`` runs, above what was allocated before
    (CUDA's peak counter; on the CPU the running sum of the profiler's allocation events)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile

    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU],
                                     profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        live += event.nbytes()  # negative for a free
        peak = max(peak, live)
    return peak


def peak_bytes(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """Peak bytes allocated during ``fn(x)`` and its backward (fed a dense gradient made
    beforehand), above what was allocated before; ``x.grad`` is reset first and counts."""
    grad = dense_grad(fn(x).detach())
    x.grad = None
    return peak_during(lambda: fn(x).backward(grad), x.device)


def device_name(device: torch.device) -> str:
    """A human label for the device measured on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    n = torch.get_num_threads()
    return f"CPU ({platform.processor() or platform.machine()}, {n} thread{'s' * (n != 1)})"
