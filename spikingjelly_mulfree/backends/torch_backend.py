"""The PyTorch backend: runs anywhere torch runs (CPU, CUDA); the reference fast path.

Two strategies, chosen per call from ``(T, k, d)`` by :func:`use_gemm`: a banded GEMM in
channel-major layout when many taps touch a short sequence
(:mod:`~spikingjelly_mulfree.functional.charge_gemm`), else shifted multiply-adds with a
hand-written backward (:mod:`~spikingjelly_mulfree.functional.charge_taps`) and batch moments
from lagged sums (:mod:`~spikingjelly_mulfree.functional.lag_moments`). Both keep only the
input for backward and fuse the ATan / Sigmoid / Rational surrogate derivatives.
"""
from __future__ import annotations

import torch

from ..functional import charge_gemm as gemm
from .base import KernelFn
from ..functional import charge_taps as taps
from ..functional.lag_moments import lag_moments
from ..functional.step import ring_charge
from ..functional.surrogate_grad import fused_surrogate_grad
from ..functional.threshold import fold_kernel


def use_gemm(T: int, k: int, dilation: int) -> bool:
    """Whether the banded-GEMM strategy is used for this shape.

    The GEMM's cost grows with ``T`` and the multiply-adds' with the number of taps that touch
    the sequence; the crossover measured on one CPU thread (``T`` 16 to 128, 4M elements) lies
    near ``T / 12`` taps, and never below 3.

    Example:
        >>> use_gemm(16, 2, 1), use_gemm(16, 8, 1), use_gemm(512, 64, 1)
        (False, True, False)
    """
    live_taps = min(k, (T - 1) // dilation + 1)
    return live_taps > max(2, T // 12) and T <= 256


class TorchBackend:
    """Plain PyTorch ops; every method is the one of :class:`~.base.Backend`.

    Example:
        >>> from spikingjelly.activation_based import surrogate
        >>> x = torch.ones(3, 1, 2, 1)
        >>> TorchBackend().charge_fire(x, torch.ones(2, 2), -torch.tensor([1.5, 0.5]), 1,
        ...                            surrogate.ATan()).flatten().tolist()
        [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        >>> mean, var = TorchBackend().conv_moments(x, torch.ones(2, 2), 1)
        >>> [round(v, 4) for v in mean.tolist() + var.tolist()]
        [1.6667, 1.6667, 0.2222, 0.2222]
    """

    name = "torch"
    fold_kernel = staticmethod(fold_kernel)

    def unavailable_reason(self, x: torch.Tensor) -> str | None:
        """Always ``None``: torch runs wherever ``x`` is."""
        return None

    def run_layer(
        self, x: torch.Tensor, weight: torch.Tensor, dilation: int, make_kernel: KernelFn,
        need_moments: bool, surrogate_function: torch.nn.Module, mul_free: bool,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """:func:`~.base.run_layer` with the moments and the spikes of one strategy
        (:func:`use_gemm`), sharing the channel-major copy between them."""
        sg_grad = fused_surrogate_grad(surrogate_function)
        if use_gemm(x.shape[0], weight.shape[1], dilation):
            xc = gemm.to_channel_major(x, weight.dtype)
            moments, u = None, None
            if need_moments:
                xc, u, cov = gemm.centred_gram(xc)
                moments = gemm.gemm_moments(u, cov, weight, dilation)
            w, b = make_kernel(moments, fold_kernel)
            s = gemm.gemm_charge_fire(xc, u, w, b, dilation, surrogate_function, sg_grad,
                                      x.shape[1])
            # contiguous, as every other path returns its spikes (users .view() them)
            spikes = gemm.from_channel_major(s, x.shape).to(x.dtype).contiguous()
            return spikes, moments
        dtype = x.dtype
        if need_moments and dtype != weight.dtype:
            # the moments and the charge both take x: their input gradients are summed in the
            # accumulator type, and rounded to x's once (each rounded first, they cancelled)
            x = x.to(weight.dtype)
        moments = lag_moments(x, weight, dilation) if need_moments else None
        w, b = make_kernel(moments, fold_kernel)
        if sg_grad is not None:
            return taps.ChargeFire.apply(x, w, b, dilation, sg_grad).to(dtype), moments
        return surrogate_function(taps.Charge.apply(x, w, b, dilation)).to(dtype), moments

    def charge_fire(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int,
        surrogate_function: torch.nn.Module, mul_free: bool = False,
    ) -> torch.Tensor:
        """:meth:`~.base.Backend.charge_fire`."""
        spikes, _ = self.run_layer(x, weight, dilation, lambda m, fold: (weight, bias), False,
                                   surrogate_function, mul_free)
        return spikes

    def conv_moments(
        self, x: torch.Tensor, weight: torch.Tensor, dilation: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`~.base.Backend.conv_moments`."""
        if use_gemm(x.shape[0], weight.shape[1], dilation):
            _, u, cov = gemm.centred_gram(gemm.to_channel_major(x, weight.dtype))
            return gemm.gemm_moments(u, cov, weight, dilation)
        return lag_moments(x, weight, dilation)

    def step_fire(
        self, x: torch.Tensor, ring: torch.Tensor, pos: int, weight: torch.Tensor,
        bias: torch.Tensor, dilation: int, mul_free: bool = False,
    ) -> torch.Tensor:
        """:meth:`~.base.Backend.step_fire`."""
        h = ring_charge(ring, pos, x, weight, bias, dilation)
        return h.ge_(0).to(x.dtype)  # h is a fresh tensor: Heaviside in one pass
