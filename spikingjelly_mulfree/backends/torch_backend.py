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
from ..functional import charge_taps as taps
from ..functional.lag_moments import LagMoments
from ..functional.step import ring_charge
from ..functional.surrogate_grad import fused_surrogate_grad
from ..functional.threshold import fold_kernel


def use_gemm(T: int, k: int, dilation: int) -> bool:
    """Whether the banded-GEMM strategy is used for this shape.

    The GEMM's cost grows with ``T`` and the multiply-adds' with the number of taps that touch
    the sequence; the crossover measured on one CPU thread (``T`` 16 to 128, 4M elements) lies
    near ``T / 12`` taps, and never below 3.
    """
    live_taps = min(k, (T - 1) // dilation + 1)
    return live_taps > max(2, T // 12) and T <= 256


class TorchBackend:
    """Plain PyTorch ops."""

    name = "torch"
    fold_kernel = staticmethod(fold_kernel)

    def unavailable_reason(self, x: torch.Tensor) -> str | None:
        return None

    def run_layer(self, x, weight, dilation, make_kernel, need_moments, surrogate_function,
                  mul_free):
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
        moments = LagMoments.apply(x, weight, dilation) if need_moments else None
        w, b = make_kernel(moments, fold_kernel)
        if sg_grad is not None:
            return taps.ChargeFire.apply(x, w, b, dilation, sg_grad), moments
        return surrogate_function(taps.Charge.apply(x, w, b, dilation)).to(x.dtype), moments

    def charge_fire(self, x, weight, bias, dilation, surrogate_function, mul_free=False):
        spikes, _ = self.run_layer(x, weight, dilation, lambda m, fold: (weight, bias), False,
                                   surrogate_function, mul_free)
        return spikes

    def conv_moments(self, x, weight, dilation):
        if use_gemm(x.shape[0], weight.shape[1], dilation):
            _, u, cov = gemm.centred_gram(gemm.to_channel_major(x, weight.dtype))
            return gemm.gemm_moments(u, cov, weight, dilation)
        return LagMoments.apply(x, weight, dilation)

    def step_fire(self, x, ring, pos, weight, bias, dilation, mul_free=False):
        h = ring_charge(ring, pos, x, weight, bias, dilation)
        return h.ge_(0).to(x.dtype)  # h is a fresh tensor: Heaviside in one pass
