"""One input-gradient pass for a BatchNorm-threshold layer (eager mode).

With the BN threshold, X feeds two ops: the batch moments of its charge under the latent taps
``w``, and the fire op under the fused taps ``w_f`` (which depend on those moments). Their
input gradients are two anti-causal correlations, ``corr(g_f, w_f) + corr(g_0, w)``. Separate
custom ops compute them in two passes plus autograd's sum; here the fire op's backward (which
autograd always runs first, since ``w_f`` depends on the moments) keeps ``g_f = dL/dH`` and hands
it over a :class:`Link`, and the moments' backward adds both correlations in one pass.

The caller must make sure the moments reach ``w_f`` / ``b_f`` in the autograd graph
(:func:`depends_on`); a backward that ends with the hand-over unused raises, so a gradient can
never be dropped silently. ``torch.compile`` uses the custom ops of :mod:`.library` instead.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import ops


class Link:
    """Carries the fire op's ``dL/dH`` and taps to the moments' backward."""

    def __init__(self):
        self.g: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None

    def check_consumed(self) -> None:
        if self.g is not None:
            self.g = self.weight = None
            raise RuntimeError(
                "CPSN fused backward: the moments' backward did not run, so the input gradient "
                "of the fire op would be lost; the effective kernel must depend on the batch "
                "moments (or use torch.compile / the custom ops of spikingjelly_mulfree.kernels)"
            )


def depends_on(outputs: tuple[torch.Tensor, ...], node) -> bool:
    """Whether autograd node ``node`` is reachable backwards from any of ``outputs``."""
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    seen = set()
    while stack:
        fn = stack.pop()
        if fn is node:
            return True
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return False


class LinkedMoments(torch.autograd.Function):
    """Batch moments whose backward also adds the linked fire op's input gradient."""

    @staticmethod
    def forward(ctx, x, weight, dilation: int, link: Link):
        mean, var = ops.moments(x, weight, dilation)
        ctx.save_for_backward(x, weight, mean)
        ctx.dilation, ctx.link = dilation, link
        return mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_mean, grad_var):
        x, weight, mean = ctx.saved_tensors
        link = ctx.link
        extra = None if link.g is None else (link.g, link.weight)
        link.g = link.weight = None
        dx, dw = ops.moments_backward(x, weight, ctx.dilation, mean, grad_mean, grad_var,
                                      extra=extra, donate=True)
        return dx, dw.to(weight.dtype), None, None


class LinkedFire(torch.autograd.Function):
    """Spikes (fused surrogate ``mode``, or ``H`` itself when ``mode`` is ``None``) whose input
    gradient is handed to :class:`LinkedMoments`."""

    @staticmethod
    def forward(ctx, x, weight, bias, dilation: int, mode, alpha: float, mul_free: bool,
                link: Link):
        if mode is None:
            out = ops.charge(x, weight, bias, dilation, mul_free)
        else:
            out = ops.charge_fire(x, weight, bias, dilation, mul_free)
        ctx.save_for_backward(x, weight, bias)
        ctx.args = (dilation, mode, alpha, mul_free)
        ctx.link = link
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight, bias = ctx.saved_tensors
        dilation, mode, alpha, mul_free = ctx.args
        if mode is None:
            g, dw, db = ops.backward(x, weight, bias, dilation, ops.GIVEN, grad_h=grad_out,
                                     mul_free=mul_free, keep_g=True)
        else:
            g, dw, db = ops.backward(x, weight, bias, dilation, mode, grad_s=grad_out,
                                     alpha=alpha, mul_free=mul_free, keep_g=True)
        if ctx.needs_input_grad[0]:
            link = ctx.link
            link.g, link.weight = g, weight.detach()
            torch.autograd.Variable._execution_engine.queue_callback(link.check_consumed)
        return None, dw.to(weight.dtype), db.to(bias.dtype), None, None, None, None, None
