"""Hand-written autograd for the shifted multiply-add charge (the torch path for small ``k``).

Autograd through per-tap slices allocates and zero-fills a full tensor per tap in backward;
these Functions keep only ``x`` for backward, recompute the charge there (``k`` passes), and
fuse the surrogate derivative (see :mod:`.surrogate_grad`). The equation is in
:mod:`spikingjelly_mulfree.functional.charge`.
"""
from __future__ import annotations

from typing import Callable

import torch


def taps_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int
) -> torch.Tensor:
    """Charge of ``x`` ``[T, N, C, S]`` (in the dtype of ``weight``), no autograd graph."""
    T = x.shape[0]
    C, k = weight.shape
    x = x.to(weight.dtype)
    last = weight[:, k - 1].view(1, 1, C, 1)
    h = x * last
    if bias is not None:
        h += bias.view(1, 1, C, 1)
    for i in range(k - 1):
        shift = (k - 1 - i) * dilation
        if shift < T:
            h[shift:].addcmul_(x[: T - shift], weight[:, i].view(1, 1, C, 1))
    return h


def taps_backward(
    grad_h: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, dilation: int,
    need_x: bool, need_w: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``dL/dx`` (anti-causal correlation with the kernel) and ``dL/dW`` ``[C, k]``."""
    T = x.shape[0]
    C, k = weight.shape
    grad_x = grad_w = None
    if need_x:
        grad_x = grad_h * weight[:, k - 1].view(1, 1, C, 1)
        for i in range(k - 1):
            shift = (k - 1 - i) * dilation
            if shift < T:
                grad_x[: T - shift].addcmul_(grad_h[shift:], weight[:, i].view(1, 1, C, 1))
    if need_w:
        xw = x.to(weight.dtype)
        grad_w = weight.new_zeros(C, k)
        for i in range(k):
            shift = (k - 1 - i) * dilation
            if shift < T:
                grad_w[:, i] = (grad_h[shift:] * xw[: T - shift]).sum(dim=(0, 1, 3))
    return grad_x, grad_w


class ChargeFire(torch.autograd.Function):
    """Spikes ``Heaviside(charge)`` with a fused surrogate derivative ``sg_grad``."""

    @staticmethod
    def forward(ctx, x, weight, bias, dilation: int, sg_grad: Callable):
        h = taps_forward(x, weight, bias, dilation)
        ctx.save_for_backward(x, weight, bias)
        ctx.dilation, ctx.sg_grad = dilation, sg_grad
        return (h >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_s):
        x, weight, bias = ctx.saved_tensors
        h = taps_forward(x, weight, bias, ctx.dilation)
        grad_h = ctx.sg_grad(grad_s.to(h.dtype), h)
        grad_x, grad_w = taps_backward(
            grad_h, x, weight, ctx.dilation, ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        )
        grad_b = grad_h.sum(dim=(0, 1, 3)) if ctx.needs_input_grad[2] else None
        if grad_x is not None:
            grad_x = grad_x.to(x.dtype)
        return grad_x, grad_w, grad_b, None, None


class Charge(torch.autograd.Function):
    """The charge itself, for surrogates without a fused derivative."""

    @staticmethod
    def forward(ctx, x, weight, bias, dilation: int):
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.has_bias = dilation, bias is not None
        return taps_forward(x, weight, bias, dilation)

    @staticmethod
    def backward(ctx, grad_h):
        x, weight = ctx.saved_tensors
        grad_x, grad_w = taps_backward(
            grad_h, x, weight, ctx.dilation, ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        )
        grad_b = grad_h.sum(dim=(0, 1, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        if grad_x is not None:
            grad_x = grad_x.to(x.dtype)
        return grad_x, grad_w, grad_b, None
