"""``backend='auto'``: time every backend that can run on the input once, keep the fastest.

The first call at a given *situation* times, for each registered backend whose
``unavailable_reason(x)`` is ``None`` (``'auto'`` itself excluded; when only one can run it is
taken without timing), ``2m + 1`` runs of the operation — forward, plus backward when gradients
are needed — round-robin (one run of each candidate per round, so that a change of load hits
all of them), and keeps the one whose fastest run among its last ``m`` is the fastest (the first
``m + 1`` rounds are warm-up). The paper averages the last ``m`` runs; we take their minimum,
since on a shared machine other jobs only ever add time: with a mean of two runs, one noisy run
once made a whole sequential-CIFAR network 20 % slower. When a backward follows, the gradient
of the input is always computed, as in every layer but a network's first. Timing never touches
the caller's tensors or the parameters' ``.grad``. The choice is cached for the life of the
process; :func:`autoselect_report` lists every choice, the times and the overhead in seconds.

Under ``torch.compile`` the timing runs eagerly (one graph break per new situation); once a
situation is cached, traces contain only the chosen backend. A choice forced by :data:`ENV_VAR`
is made inside the trace, with no graph break.

Timing cannot run while a CUDA graph is being captured (it synchronises the device): a new
situation met during a capture raises ``RuntimeError``. Capturing tools run warm-up steps
first, which make the choice.

A situation is the operation (``run_layer``, ``charge_fire``, ``conv_moments`` or ``step_fire``,
the in-place single step of inference), the input's shape, dtype, device and contiguity, the
kernel's shape (``C``, ``k``) and dtype, the dilation,
whether batch moments are needed (a BatchNorm threshold in training), whether a backward pass
follows (grad mode on and an input requiring grad: training, or a learnable threshold), the
``mul_free`` flag, the surrogate's type and the set of available backends.

Setting the environment variable ``SPIKINGJELLY_MULFREE_BACKEND=<name>`` forces ``'auto'`` to
use that backend without timing (read at every call); an unknown name raises ``ValueError``, a
backend that cannot run on the input raises ``RuntimeError`` — there is no silent fallback.
Backends asked for by name (``CPSN(backend='torch')``) ignore the variable.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from ..functional.threshold import BN
from . import base
from .base import Backend, KernelFn

ENV_VAR = "SPIKINGJELLY_MULFREE_BACKEND"
AUTO = "auto"
DEFAULT_M = 2


@dataclass(frozen=True)
class Choice:
    """One autoselect decision.

    Attributes:
        op: the backend operation timed. situation: the cache key, as readable text.
        chosen: the backend used from now on. times_s: seconds of the fastest of the last
        ``m`` runs per backend timed. skipped: backend name -> why it was not timed
        (unavailable, or the error it raised). overhead_s: wall seconds the selection took.
        forced: chosen by ``ENV_VAR``.

    Example:
        >>> c = Choice("charge_fire", "x (6, 2, 4, 1)", "cpu", {"torch": 2e-4, "cpu": 1e-4})
        >>> c.chosen, min(c.times_s, key=c.times_s.get), c.forced
        ('cpu', 'cpu', False)
    """

    op: str
    situation: str
    chosen: str
    times_s: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    overhead_s: float = 0.0
    forced: bool = False


@dataclass(frozen=True)
class AutoselectReport:
    """All choices made so far in this process and their total overhead; ``str()`` lists
    them, fastest backend first.

    Example:
        >>> c = Choice("charge_fire", "x (6, 2, 4, 1)", "cpu", {"torch": 2e-4, "cpu": 1e-4},
        ...            {"cupy": "no GPU"}, overhead_s=0.01)
        >>> print(AutoselectReport((c,)))
        autoselect: 1 choice(s), overhead 0.0100 s
          charge_fire [x (6, 2, 4, 1)] -> cpu (cpu 0.100 ms, torch 0.200 ms)
            skipped cupy: no GPU
    """

    choices: tuple[Choice, ...]

    @property
    def overhead_s(self) -> float:
        """Total seconds spent timing backends."""
        return sum(c.overhead_s for c in self.choices)

    def __str__(self) -> str:
        lines = [f"autoselect: {len(self.choices)} choice(s), overhead {self.overhead_s:.4f} s"]
        for c in self.choices:
            ranked = sorted(c.times_s.items(), key=lambda item: item[1])
            times = ", ".join(f"{n} {t * 1e3:.3f} ms" for n, t in ranked)
            how = "forced by " + ENV_VAR if c.forced else times or "not timed"
            lines.append(f"  {c.op} [{c.situation}] -> {c.chosen} ({how})")
            lines.extend(f"    skipped {n}: {why}" for n, why in c.skipped.items())
        return "\n".join(lines)


def _registry() -> Mapping[str, Backend]:
    from . import _REGISTRY

    return _REGISTRY


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class AutoBackend:
    """The ``'auto'`` backend: delegates each call to the fastest backend for its situation.

    Args:
        candidates: returns the backends to choose from, by name (default: the registry).
        m: timing runs kept per backend (``2m + 1`` are run).

    Example:
        >>> import torch
        >>> from spikingjelly_mulfree import CPSN
        >>> from spikingjelly_mulfree.backends import autoselect_report
        >>> CPSN(channels=4, k=2, backend="auto")(torch.randn(6, 2, 4)).shape
        torch.Size([6, 2, 4])
        >>> autoselect_report().choices[-1].chosen in ("torch", "cpu", "cupy")
        True
    """

    name = AUTO

    def __init__(
        self, candidates: Callable[[], Mapping[str, Backend]] = _registry, m: int = DEFAULT_M
    ):
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"m: expected an integer >= 1 (runs kept for the mean), got {m!r}")
        self._candidates = candidates
        self.m = m
        self._cache: dict[tuple, str] = {}
        self._choices: list[Choice] = []
        self._warned: set[tuple[str, str]] = set()
        self._per_channel: dict[tuple, Backend | None] = {}

    # --- the contract ----------------------------------------------------------------------
    def unavailable_reason(self, x: torch.Tensor) -> str | None:
        """``None`` when a candidate (the forced one, if :data:`ENV_VAR` names one) can run
        on ``x``, else why not."""
        forced = self._forced_name()
        if forced is not None:
            reason = self._registered()[forced].unavailable_reason(x)
            return None if reason is None else f"{ENV_VAR}={forced!r}: {reason}"
        if any(b.unavailable_reason(x) is None for b in self._candidate_map(None).values()):
            return None
        return "no registered backend can run on this input"

    def charge_fire(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    dilation: int, surrogate_function: torch.nn.Module,
                    mul_free: bool = False) -> torch.Tensor:
        """Spikes shaped like ``x`` ``[T, N, C, S]`` from the fastest backend for the
        situation (see :class:`~.base.Backend`)."""
        def call(backend: Backend, x, weight, bias):
            return backend.charge_fire(x, weight, bias, dilation, surrogate_function,
                                       mul_free=mul_free)

        extra = (("bias", bias is not None), ("dilation", dilation), ("mul_free", mul_free),
                 ("surrogate", type(surrogate_function).__qualname__))
        backend = self._select("charge_fire", (x, weight, bias), extra, call)
        return call(backend, x, weight, bias)

    def conv_moments(self, x: torch.Tensor, weight: torch.Tensor, dilation: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel ``(mean, var)`` (each ``[C]``) from the fastest backend."""
        def call(backend: Backend, x, weight):
            return backend.conv_moments(x, weight, dilation)

        backend = self._select("conv_moments", (x, weight), (("dilation", dilation),), call)
        return call(backend, x, weight)

    def step_fire(self, x: torch.Tensor, ring: torch.Tensor, pos: int, weight: torch.Tensor,
                  bias: torch.Tensor | None, dilation: int, mul_free: bool = False
                  ) -> torch.Tensor:
        """One in-place inference step (``x`` ``[N, C, S]``, ``ring`` ``[R, N, C, S]``) on the
        fastest backend that has ``step_fire``."""
        # Timing steps the caller's ring: a step writes x into slot pos, and repeating it
        # leaves the same ring.
        def call(backend: Backend, x, weight, bias):
            return backend.step_fire(x, ring, pos, weight, bias, dilation, mul_free)

        extra = (("dilation", dilation), ("mul_free", mul_free))
        backend = self._select("step_fire", (x, weight, bias), extra, call)
        return call(backend, x, weight, bias)

    def fold_kernel(self, weight: torch.Tensor, bn: BN | None,
                    exp_range: tuple[int, int] | None
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The fold of the first kernel backend that can run on ``weight``'s device (the
        forced one if :data:`ENV_VAR` names one), else torch's: the fold is not timed, and a
        kernel does it in one launch where torch takes about twenty operations."""
        return base.fold_of(self._per_channel_backend(weight))(weight, bn, exp_range)

    def update_running_stats(self, running_mean: torch.Tensor, running_var: torch.Tensor,
                             mean: torch.Tensor, var: torch.Tensor, count: int,
                             momentum: float) -> None:
        """The running statistics on the backend :meth:`fold_kernel` uses."""
        update = base.running_stats_of(self._per_channel_backend(mean))
        update(running_mean, running_var, mean, var, count, momentum)

    def _per_channel_backend(self, t: torch.Tensor) -> Backend | None:
        """The backend of the per-channel arithmetic (fold, running statistics) for tensors
        like ``t``: the forced one, else the first kernel backend made for ``t``'s device (its
        ``device_type``, as in :meth:`_warn_missing_kernels`) that can run (``None``: torch's
        functions)."""
        forced = self._forced_name()
        key = (t.device.type, forced)
        if key not in self._per_channel:
            candidates = self._candidate_map(forced)
            if forced is not None:
                chosen = candidates[forced]
            else:
                chosen = next((b for b in candidates.values()
                               if getattr(b, "device_type", None) == t.device.type
                               and b.unavailable_reason(t) is None), None)
            self._per_channel[key] = chosen
        return self._per_channel[key]

    def run_layer(self, x: torch.Tensor, weight: torch.Tensor, dilation: int,
                  make_kernel: KernelFn, need_moments: bool,
                  surrogate_function: torch.nn.Module, mul_free: bool
                  ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """:func:`~.base.run_layer` on the fastest backend for the situation: spikes shaped
        like ``x`` ``[T, N, C, S]`` and the moments (each ``[C]``) or ``None``."""
        def call(backend: Backend, x, weight):
            return base.run_layer(backend, x, weight, dilation, make_kernel, need_moments,
                             surrogate_function, mul_free)[0]

        extra = (("dilation", dilation), ("moments", need_moments), ("mul_free", mul_free),
                 ("surrogate", type(surrogate_function).__qualname__))
        backend = self._select("run_layer", (x, weight), extra, call,
                               getattr(make_kernel, "reads", ()))
        return base.run_layer(backend, x, weight, dilation, make_kernel, need_moments,
                         surrogate_function, mul_free)

    # --- report ----------------------------------------------------------------------------
    def report(self) -> AutoselectReport:
        """Every choice made so far (see :class:`AutoselectReport`)."""
        return AutoselectReport(tuple(self._choices))

    def clear(self) -> None:
        """Forget all choices (and which missing kernels were reported); the next call at each
        situation times again."""
        self._cache.clear()
        self._choices.clear()
        self._warned.clear()
        self._per_channel.clear()

    # --- selection -------------------------------------------------------------------------
    def _registered(self) -> dict[str, Backend]:
        """Every registered backend but 'auto' itself: what :data:`ENV_VAR` may name."""
        return {n: b for n, b in self._candidates().items()
                if n != AUTO and not isinstance(b, AutoBackend)}

    def _candidate_map(self, forced: str | None) -> dict[str, Backend]:
        """The registered backends 'auto' chooses among: all but itself and those that only
        give another way to the same kernels (``timed_by_auto = False``, e.g.
        ``'cupy-shift'``), which only ``forced`` (:data:`ENV_VAR`'s name) adds."""
        return {n: b for n, b in self._registered().items()
                if getattr(b, "timed_by_auto", True) or n == forced}

    def _forced_name(self) -> str | None:
        name = os.environ.get(ENV_VAR)
        if name is None or name in ("", AUTO):
            return None
        allowed = tuple(self._registered())
        if name not in allowed:
            raise ValueError(
                f"{ENV_VAR}: expected one of {allowed + (AUTO,)}, got {name!r}; unset it to "
                "let backend='auto' time the backends"
            )
        return name

    def _select(self, op: str, tensors: tuple, extra: tuple, call: Callable,
                trained: tuple = ()) -> Backend:
        """The backend for ``op``; ``trained`` are tensors the operation reads besides its
        arguments (a kernel's threshold parameters): a backward follows when any of them, or
        of ``tensors``, requires grad."""
        x, weight = tensors[0], tensors[1]
        forced = self._forced_name()
        candidates = self._candidate_map(forced)
        if op == "step_fire":  # a backend registered from outside may not step in place
            candidates = {n: b for n, b in candidates.items() if hasattr(b, op)}
        if forced is not None and forced not in candidates:
            raise RuntimeError(f"{ENV_VAR}={forced!r}: that backend has no {op}; unset it")
        backward = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in tensors + tuple(trained)
        )
        key = (
            op, tuple(x.shape), x.dtype, str(x.device), x.is_contiguous(), tuple(weight.shape),
            weight.dtype, backward, extra, tuple(candidates), forced,
        )
        name = self._cache.get(key)
        if name is None:
            situation = (
                f"x {tuple(x.shape)} {x.dtype} {x.device}"
                f"{'' if x.is_contiguous() else ' non-contiguous'}, kernel {tuple(weight.shape)} "
                f"{weight.dtype}, backward={backward}, "
                + ", ".join(f"{name}={value}" for name, value in extra)
            )
            if forced is not None:  # recorded in the trace: no graph break under compile
                self._cache[key] = name = forced
                self._choices.append(Choice(op, situation, forced, forced=True))
            else:
                name = self._decide(op, key, situation, candidates, tensors, backward, call)
        if forced is not None:
            reason = candidates[name].unavailable_reason(x)
            if reason is not None:
                raise RuntimeError(f"{ENV_VAR}={name!r} cannot run on this input: {reason}")
        return candidates[name]

    @torch.compiler.disable
    def _decide(self, op, key, situation, candidates, tensors, backward, call) -> str:
        """Time the candidates (always eagerly: under ``torch.compile`` this is a graph break,
        taken once per situation; later traces hit the cache)."""
        start = time.perf_counter()
        times, skipped = {}, {}
        x = tensors[0]
        runnable = {}
        for name, backend in candidates.items():
            reason = backend.unavailable_reason(x)
            if reason is None:
                runnable[name] = backend
            else:
                skipped[name] = reason
        self._warn_missing_kernels(candidates, skipped, x, tuple(runnable))
        if len(runnable) == 1:
            (only,) = runnable
            self._cache[key] = only
            self._choices.append(Choice(op, situation, only, {}, skipped, 0.0))
            return only
        if base.capturing(x):
            raise RuntimeError(
                f"backend='auto' times the backends at the first {op} of a new input shape "
                f"({situation}), which cannot happen while a CUDA graph is captured: run the "
                "step once before capturing (torch.cuda.make_graphed_callables and "
                "torch.compile(mode='reduce-overhead') warm up first), or name the backend, "
                "e.g. CPSN(backend='cupy')"
            )
        runs = {name: self._runner(backend, tensors, backward, call)
                for name, backend in runnable.items()}
        measured: dict[str, list[float]] = {name: [] for name in runs}
        errors: dict[str, Exception] = {}
        for _ in range(2 * self.m + 1):  # round-robin: a change of load hits every candidate
            for name in list(runs):
                try:
                    measured[name].append(runs[name]())
                except Exception as err:  # a candidate that fails is reported, not chosen
                    skipped[name] = f"{type(err).__name__}: {err}"
                    errors[name] = err
                    del runs[name], measured[name]
                    warnings.warn(f"backend='auto': {name!r} failed while being timed: {err}",
                                  RuntimeWarning, stacklevel=4)
        times = {name: min(seconds[-self.m:]) for name, seconds in measured.items()}
        if not times:
            # every candidate failed: most likely the input or a user function (a surrogate,
            # say) is at fault, so the reference's error (else the first) is raised as it is
            err = errors.get("torch", next(iter(errors.values())))
            err.add_note(f"backend='auto': no backend could run {op} here: {skipped}")
            raise err
        chosen = min(times, key=times.get)
        overhead = time.perf_counter() - start
        self._cache[key] = chosen
        self._choices.append(Choice(op, situation, chosen, times, skipped, overhead))
        return chosen

    def _warn_missing_kernels(self, candidates, skipped, x, runnable) -> None:
        """Warn once per backend and device type when a kernel backend made for ``x``'s device
        cannot run (CuPy or the C++ compiler missing, say): 'auto' then picks among the others,
        and the user should know how to get the fast path."""
        for name, reason in skipped.items():
            if getattr(candidates[name], "device_type", None) != x.device.type:
                continue
            if (name, x.device.type) in self._warned:
                continue
            self._warned.add((name, x.device.type))
            warnings.warn(
                f"backend='auto': the {name!r} kernels cannot run on these {x.device.type} "
                f"tensors ({reason}); CPSN runs on {', '.join(map(repr, runnable))} instead",
                RuntimeWarning, stacklevel=5)

    def _runner(self, backend: Backend, tensors: tuple, backward: bool,
                call: Callable) -> Callable[[], float]:
        """A function that runs the operation once on detached copies of the leaves (forward,
        plus backward when one follows) and returns its seconds."""
        grads = [backward and (i == 0 or t.requires_grad) for i, t in enumerate(tensors)
                 if t is not None]
        leaves = tuple(None if t is None else t.detach() for t in tensors)
        for leaf, grad in zip((t for t in leaves if t is not None), grads):
            leaf.requires_grad_(grad)
        wrt = [t for t in leaves if t is not None and t.requires_grad]
        device = tensors[0].device

        def run() -> float:
            _sync(device)
            t0 = time.perf_counter()
            with torch.set_grad_enabled(backward):
                out = call(backend, *leaves)
                outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o.requires_grad]
                if wrt and outs:
                    torch.autograd.grad(outs, wrt, [torch.ones_like(o) for o in outs],
                                        allow_unused=True)
            _sync(device)
            return time.perf_counter() - t0

        return run


AUTO_BACKEND = AutoBackend()


def autoselect_report() -> AutoselectReport:
    """What ``backend='auto'`` chose so far in this process, what it timed, and the overhead.

    Example:
        >>> print(autoselect_report())  # doctest: +ELLIPSIS
        autoselect: ... choice(s), overhead ... s...
    """
    return AUTO_BACKEND.report()


def clear_autoselect_cache() -> None:
    """Forget every ``backend='auto'`` choice (the next forward times again).

    Example:
        >>> clear_autoselect_cache(); autoselect_report().choices
        ()
    """
    AUTO_BACKEND.clear()
