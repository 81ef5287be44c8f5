"""A BatchNorm-threshold layer's training step in few launches (eager mode).

:class:`BNLayer` runs a whole layer whose effective kernel is the standard fold
(:class:`~spikingjelly_mulfree.backends.base.BNFold`) as one autograd node: moments, fold and
fire forward; fire backward, the fold's gradient and the moments' backward, which adds both
input gradients in one pass. Any other ``make_kernel`` goes through the linked pair below.

One input-gradient pass for a BatchNorm-threshold layer:

With the BN threshold, X feeds two ops: the batch moments of its charge under the latent taps
``w``, and the fire op under the fused taps ``w_f`` (which depend on those moments). Their
input gradients are two anti-causal correlations, ``corr(g_f, w_f) + corr(g_0, w)``. Separate
custom ops compute them in two passes plus autograd's sum; here the fire op's backward (which
autograd always runs first, since ``w_f`` depends on the moments) keeps ``g_f = dL/dH`` and hands
it over a :class:`Link`, and the moments' backward adds both correlations in one pass.

The caller must make sure the moments reach ``w_f`` / ``b_f`` in the autograd graph
(:func:`depends_on`); a backward that ends with the hand-over unused raises, so a gradient can
never be dropped silently. ``torch.compile`` uses the custom ops of :mod:`.library` instead.

Example (the linked pair; :class:`BNLayer` has its own):
    >>> x = torch.randn(6, 2, 3, 4, requires_grad=True)
    >>> w = torch.rand(3, 2, requires_grad=True)
    >>> link = Link()
    >>> mean, var = LinkedMoments.apply(x, w, 1, link)
    >>> scale = (var + 1e-5).rsqrt()
    >>> wf, bf = w * scale[:, None], -mean * scale
    >>> depends_on((wf, bf), mean.grad_fn)
    True
    >>> LinkedFire.apply(x, wf, bf, 1, ops.ATAN, 2.0, False, link).sum().backward()
    >>> x.grad.shape, link.g is None  # the moments' backward consumed the hand-over
    (torch.Size([6, 2, 3, 4]), True)
"""
from __future__ import annotations

import functools

import torch
from torch.autograd.function import once_differentiable

from . import fold, ops


def first_order(backward):
    """``once_differentiable``, and a clear error up front for a backward that would build a
    graph (``create_graph=True``): these kernels have no gradients of their gradients, and
    ``once_differentiable`` alone lets a second-order gradient come back as ``None``.

    Example:
        >>> x = torch.randn(4, 1, 2, 1, requires_grad=True)
        >>> mean, _ = LinkedMoments.apply(x, torch.ones(2, 2), 1, Link())
        >>> torch.autograd.grad(mean.sum(), x, create_graph=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        RuntimeError: CPSN kernel backends compute first-order gradients only: ...
    """
    inner = once_differentiable(backward)

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        ops.refuse_create_graph()
        return inner(ctx, *grads)

    return wrapper


def _fire(x, weight, bias, dilation: int, mode, mul_free: bool) -> torch.Tensor:
    """Spikes with the surrogate ``mode`` fused into the backward, or ``H`` when ``mode`` is
    ``None``."""
    if mode is None:
        return ops.charge(x, weight, bias, dilation, mul_free)
    return ops.charge_fire(x, weight, bias, dilation, mul_free)


def _fire_backward(x, weight, bias, dilation: int, mode, alpha: float, mul_free: bool,
                   grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dL/dH, dW, db)`` of :func:`_fire`: ``grad_out`` is the spikes' gradient, or ``dL/dH``
    itself when ``mode`` is ``None``."""
    if mode is None:
        return ops.backward(x, weight, bias, dilation, ops.GIVEN, grad_h=grad_out,
                            mul_free=mul_free, keep_g=True)
    return ops.backward(x, weight, bias, dilation, mode, grad_s=grad_out, alpha=alpha,
                        mul_free=mul_free, keep_g=True)


class Link:
    """Carries the fire op's ``dL/dH`` and taps to the moments' backward (see the module
    example).

    Attributes:
        g: the fire op's ``dL/dH`` ``[T, N, C, S]`` (accumulator type) until the moments'
            backward takes it, else ``None``. weight: the fire op's taps ``[C, k]``.
    """

    def __init__(self):
        self.g: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None

    def check_consumed(self) -> None:
        """Raise (and drop the hand-over) if the moments' backward left ``g`` unused; queued
        by the fire op's backward to run when autograd's backward ends.

        Example:
            >>> link = Link()
            >>> link.g = torch.zeros(1)
            >>> link.check_consumed()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            RuntimeError: CPSN fused backward: the moments' backward did not run, ...
            >>> link.g is None
            True
        """
        if self.g is not None:
            self.g = self.weight = None
            raise RuntimeError(
                "CPSN fused backward: the moments' backward did not run, so the input gradient "
                "of the fire op would be lost; the effective kernel must depend on the batch "
                "moments (or use torch.compile / the custom ops of spikingjelly_mulfree.kernels)"
            )


def depends_on(outputs: tuple[torch.Tensor, ...], node) -> bool:
    """Whether autograd node ``node`` is reachable backwards from any of ``outputs``.

    Example:
        >>> a = torch.ones(2, requires_grad=True)
        >>> b = a * 2
        >>> depends_on((b + 1,), b.grad_fn), depends_on((a * 3,), b.grad_fn)
        (True, False)
    """
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
    """Batch moments ``(mean, var)`` (each ``[C]``, see :func:`.ops.moments`) of ``x``
    ``[T, N, C, S]`` under ``weight`` ``[C, k]``, whose backward also adds the input gradient
    the :class:`Link` carries (see the module example)."""

    @staticmethod
    def forward(ctx, x, weight, dilation: int, link: Link):
        mean, var = ops.moments(x, weight, dilation)
        ctx.save_for_backward(x, weight, mean)
        ctx.dilation, ctx.link = dilation, link
        return mean, var

    @staticmethod
    @first_order
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
    gradient is handed to :class:`LinkedMoments`: ``x`` ``[T, N, C, S]``, ``weight`` ``[C, k]``,
    ``bias`` ``[C]`` in the accumulator type; returns ``[T, N, C, S]`` (see the module
    example)."""

    @staticmethod
    def forward(ctx, x, weight, bias, dilation: int, mode, alpha: float, mul_free: bool,
                link: Link):
        out = _fire(x, weight, bias, dilation, mode, mul_free)
        ctx.save_for_backward(x, weight, bias)
        ctx.args = (dilation, mode, alpha, mul_free)
        ctx.link = link
        return out

    @staticmethod
    @first_order
    def backward(ctx, grad_out):
        x, weight, bias = ctx.saved_tensors
        g, dw, db = _fire_backward(x, weight, bias, *ctx.args, grad_out)
        if ctx.needs_input_grad[0]:
            link = ctx.link
            link.g, link.weight = g, weight.detach()
            torch.autograd.Variable._execution_engine.queue_callback(link.check_consumed)
        return None, dw.to(weight.dtype), db.to(bias.dtype), None, None, None, None, None


class BNLayer(torch.autograd.Function):
    """``(spikes or H, mean, var)`` of a layer with the BatchNorm threshold folded into its
    kernel; ``mean`` and ``var`` (for the running statistics) carry no gradient.

    Arguments: ``x`` ``[T, N, C, S]``; ``weight`` ``[C, k]``, ``gamma``, ``beta`` ``[C]`` in the
    accumulator type of ``x``; ``mode``: the fused surrogate (``None``: return ``H``, to which
    the caller applies its surrogate); ``shift``: apply the taps as exponent adds.

    Example:
        >>> x = torch.randn(6, 2, 3, 4, requires_grad=True)
        >>> w = torch.rand(3, 2, requires_grad=True)
        >>> gamma, beta = torch.ones(3), torch.zeros(3)
        >>> s, mean, var = BNLayer.apply(x, w, gamma, beta, 1, 1e-5, None, ops.ATAN, 2.0, False)
        >>> wf, bf = fold.fold_values(w.detach(), (mean, var, gamma, beta, 1e-5), None)
        >>> torch.equal(s, ops.charge_fire(x.detach(), wf, bf, 1)), mean.shape, var.requires_grad
        (True, torch.Size([3]), False)
        >>> s.sum().backward(); x.grad.shape, w.grad.shape
        (torch.Size([6, 2, 3, 4]), torch.Size([3, 2]))
    """

    @staticmethod
    def forward(ctx, x, weight, gamma, beta, dilation: int, eps: float, exp_range, mode,
                alpha: float, shift: bool):
        x = ops.as_kernel_arg(x, x.dtype)  # one contiguous copy for all passes, if any
        mean, var, wf, bf = fold.moments_and_fold(x, weight, dilation, gamma, beta, eps,
                                                  exp_range)
        out = _fire(x, wf, bf, dilation, mode, shift)
        ctx.save_for_backward(x, weight, gamma, mean, var, wf, bf)
        ctx.args = (dilation, eps, mode, alpha, shift)
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)  # no zero tensors for mean and var
        return out, mean, var

    @staticmethod
    @first_order
    def backward(ctx, grad_out, grad_mean, grad_var):
        x, weight, gamma, mean, var, wf, bf = ctx.saved_tensors
        dilation, eps, mode, alpha, shift = ctx.args
        if grad_out is None:
            return (None,) * 10
        g, dwf, dbf = _fire_backward(x, wf, bf, dilation, mode, alpha, shift, grad_out)
        # the moments' coefficients straight from the fold's gradient (see ops.moments_backward)
        n = x.numel() // weight.shape[0]
        dw, cb, ca, dgamma, dbeta = fold.fold_grads(weight, mean, var, gamma, eps, dwf, dbf,
                                                    mean_div=float(n), var_scale=2.0 / n)
        dx, dw, _ = ops.backward(x, weight, None, dilation, ops.MOMENTS, moments=(mean, ca, cb),
                                 extra=(g, wf), donate=True, add_to=dw)
        return (dx, dw, dgamma, dbeta) + (None,) * 6
