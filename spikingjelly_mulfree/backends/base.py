"""The interface every compute backend of :class:`~spikingjelly_mulfree.CPSN` implements.

All tensors handed to a backend are already normalised by the module:

* ``x``: ``[T, N, C, S]`` floating input in the caller's dtype (float16, bfloat16, float32 or
  float64; ``S`` = product of trailing spatial dims, 1 if none); any strides — a backend that
  needs contiguity makes its own copy;
* ``weight``: ``[C, k]`` effective taps (already fused and quantized), ``bias``: ``[C]``;
  both in the compute dtype: float64 if ``x`` is float64, else float32 (accumulate in it);
* ``dilation``: python ``int >= 1``;
* ``mul_free``: ``True`` when every weight is 0 or ``+-2**e`` (a backend may then apply taps as
  exponent adds / shifts).

Spikes are returned in ``x.dtype``; moments in the compute dtype.

A backend returns tensors differentiable with respect to ``x``, ``weight`` and ``bias``
(through its own ``torch.autograd.Function`` or plain torch ops) — except ``step_fire``, the
in-place single step of inference, which tracks no gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from ..functional import threshold


class Backend(Protocol):
    """Compute backend contract (see the module docstring for shapes).

    Example:
        >>> from spikingjelly.activation_based import surrogate
        >>> from spikingjelly_mulfree.backends import get_backend
        >>> backend = get_backend("torch", x := torch.ones(3, 1, 2, 1))
        >>> backend.charge_fire(x, torch.ones(2, 2), -torch.tensor([1.5, 0.5]), 1,
        ...                     surrogate.ATan()).flatten().tolist()
        [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """

    name: str

    def unavailable_reason(self, x: torch.Tensor) -> str | None:
        """``None`` if this backend can run on ``x`` (device, dtype, installed libraries);
        otherwise a sentence saying why not and how to fix it."""

    def charge_fire(
        self,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        dilation: int,
        surrogate_function: torch.nn.Module,
        mul_free: bool = False,
    ) -> torch.Tensor:
        """Spikes ``surrogate_function(charge(x, weight, bias, dilation))``, shaped like ``x``."""

    def conv_moments(
        self, x: torch.Tensor, weight: torch.Tensor, dilation: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and biased variance (each ``[C]``) of ``charge(x, weight, None, d)``
        over T, N and S, differentiable in ``x`` and ``weight``."""

    def fold_kernel(
        self,
        weight: torch.Tensor,
        bn: threshold.BN | None,
        exp_range: tuple[int, int] | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The effective ``(weight, bias or None)`` of
        :func:`~spikingjelly_mulfree.functional.threshold.fold_kernel` (optional: a backend
        without it gets that function)."""

    def update_running_stats(
        self,
        running_mean: torch.Tensor,
        running_var: torch.Tensor,
        mean: torch.Tensor,
        var: torch.Tensor,
        count: int,
        momentum: float,
    ) -> None:
        """:func:`~spikingjelly_mulfree.functional.threshold.update_running_stats` (optional:
        a backend without it gets that function)."""

    def step_fire(
        self,
        x: torch.Tensor,
        ring: torch.Tensor,
        pos: int,
        weight: torch.Tensor,
        bias: torch.Tensor,
        dilation: int,
        mul_free: bool = False,
    ) -> torch.Tensor:
        """One step of inference on a ring buffer, in place, no gradient: write ``x``
        ``[N, C, S]`` into ``ring[pos]`` (``ring``: ``[R, N, C, S]``, contiguous, in the compute
        dtype) and return ``Heaviside(H)`` of this step in ``x.dtype`` (see
        :func:`~spikingjelly_mulfree.functional.step.ring_charge`; the caller advances
        ``pos``)."""


def capturing(t: torch.Tensor) -> bool:
    """Whether ``t`` is a CUDA tensor and a CUDA graph is being captured on the current
    stream: what a captured graph replays are its launches, so anything the host decides or
    measures during the capture is frozen into it.

    Example:
        >>> capturing(torch.zeros(2))
        False
    """
    return t.is_cuda and torch.cuda.is_current_stream_capturing()


@dataclass(frozen=True)
class BNFold:
    """What a ``make_kernel`` carrying it as ``make_kernel.bn`` computes: ``fold(weight,
    (mean, var, gamma, beta, eps), exp_range)`` of the batch moments (the module's BatchNorm
    threshold in training). A backend may then run the whole layer as one operation instead of
    calling ``make_kernel``; the tensors are in the dtype of the layer's ``weight``."""

    gamma: torch.Tensor
    beta: torch.Tensor
    eps: float
    exp_range: tuple[int, int] | None


FoldFn = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]
KernelFn = Callable[
    [tuple[torch.Tensor, torch.Tensor] | None, FoldFn], tuple[torch.Tensor, torch.Tensor]
]


def fold_of(backend: Backend) -> FoldFn:
    """``backend.fold_kernel``, or the torch one for a backend that has none."""
    return getattr(backend, "fold_kernel", threshold.fold_kernel)


def running_stats_of(backend: Backend) -> Callable[..., None]:
    """``backend.update_running_stats``, or the torch one for a backend that has none."""
    return getattr(backend, "update_running_stats", threshold.update_running_stats)


def run_layer(
    backend: Backend,
    x: torch.Tensor,
    weight: torch.Tensor,
    dilation: int,
    make_kernel: KernelFn,
    need_moments: bool,
    surrogate_function: torch.nn.Module,
    mul_free: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """One CPSN layer on ``backend``: (moments ->) effective kernel -> spikes.

    ``make_kernel(moments or None, fold)`` turns the latent ``weight`` (and the batch moments
    of its charge when ``need_moments``) into the effective ``(weight, bias)``, folding with
    the backend's ``fold`` (:func:`fold_of`); it may say what it computes in an attribute
    ``bn`` (:class:`BNFold`), and name the trained tensors it reads besides ``weight`` in an
    attribute ``reads`` (so 'auto' times a backward when only those train). A backend may provide
    its own ``run_layer`` with the same arguments to share work between the two passes;
    otherwise this composes ``conv_moments`` and ``charge_fire``.

    Returns:
        ``(spikes shaped like x, moments or None)``.
    """
    fused = getattr(backend, "run_layer", None)
    if fused is not None:
        return fused(x, weight, dilation, make_kernel, need_moments, surrogate_function, mul_free)
    moments = backend.conv_moments(x, weight, dilation) if need_moments else None
    w, b = make_kernel(moments, fold_of(backend))
    spikes = backend.charge_fire(x, w, b, dilation, surrogate_function, mul_free=mul_free)
    return spikes, moments
