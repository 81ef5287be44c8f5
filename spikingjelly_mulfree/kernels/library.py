"""The kernels as ``torch.library`` custom ops, with fake impls and registered autograd.

Ops (namespace ``spikingjelly_mulfree``), ``x`` ``[T, N, C, S]`` on CPU (host build) or CUDA
(CuPy), weights in the accumulator type (:func:`.ops.acc_dtype`):

* ``charge_fire(x, weight, bias, dilation, mode, alpha, mul_free) -> spikes`` (``x.dtype``),
  the surrogate derivative ``mode`` (ATAN, SIGMOID, RATIONAL of :mod:`.ops`) fused into the
  backward, which recomputes H from x (only x, weight, bias are saved);
* ``charge(x, weight, bias, dilation, mul_free) -> H`` (accumulator type), for any other
  surrogate, which torch then applies;
* ``moments(x, weight, dilation) -> (mean, var)`` per channel of the un-biased charge.

Each has a ``*_backward`` op, so ``torch.compile`` traces forward and backward without graph
breaks. Results are deterministic: reductions use per-thread partials summed in a fixed
order. The integer kernel is the op ``integer_fire`` (inference only) of
:mod:`spikingjelly_mulfree.integer.kernel`.

Example:
    >>> import torch
    >>> x = torch.randn(8, 2, 3, 1, requires_grad=True)
    >>> w, b = torch.rand(3, 4), torch.zeros(3)
    >>> s = torch.ops.spikingjelly_mulfree.charge_fire(x, w, b, 1, ATAN, 2.0, False)
    >>> s.sum().backward(); x.grad.shape
    torch.Size([8, 2, 3, 1])
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import ops
from .ops import ATAN, RATIONAL, SIGMOID  # noqa: F401  (re-exported mode constants)

NS = "spikingjelly_mulfree"


# --- charge_fire ---------------------------------------------------------------------------
@torch.library.custom_op(f"{NS}::charge_fire", mutates_args=())
def charge_fire(x: Tensor, weight: Tensor, bias: Tensor, dilation: int, mode: int,
                alpha: float, mul_free: bool) -> Tensor:
    return ops.charge_fire(x, weight, bias, dilation, mul_free)


@charge_fire.register_fake
def _(x, weight, bias, dilation, mode, alpha, mul_free):
    return x.new_empty(x.shape)


@torch.library.custom_op(f"{NS}::charge_fire_backward", mutates_args=())
def charge_fire_backward(grad_s: Tensor, x: Tensor, weight: Tensor, bias: Tensor,
                         dilation: int, mode: int, alpha: float, mul_free: bool
                         ) -> tuple[Tensor, Tensor, Tensor]:
    return ops.backward(x, weight, bias, dilation, mode, grad_s=grad_s, alpha=alpha,
                        mul_free=mul_free)


@charge_fire_backward.register_fake
def _(grad_s, x, weight, bias, dilation, mode, alpha, mul_free):
    acc = ops.acc_dtype(x.dtype)
    return (x.new_empty(x.shape), weight.new_empty(weight.shape, dtype=acc),
            bias.new_empty(bias.shape, dtype=acc))


def _cf_setup(ctx, inputs, output):
    x, weight, bias, dilation, mode, alpha, mul_free = inputs
    ctx.save_for_backward(x, weight, bias)
    ctx.args = (dilation, mode, alpha, mul_free)
    ctx.dtypes = (weight.dtype, bias.dtype)


def _cf_backward(ctx, grad_s):
    ops.refuse_create_graph()
    x, weight, bias = ctx.saved_tensors
    dx, dw, db = charge_fire_backward(grad_s, x, weight, bias, *ctx.args)
    return dx, dw.to(ctx.dtypes[0]), db.to(ctx.dtypes[1]), None, None, None, None


charge_fire.register_autograd(_cf_backward, setup_context=_cf_setup)


# --- charge --------------------------------------------------------------------------------
@torch.library.custom_op(f"{NS}::charge", mutates_args=())
def charge(x: Tensor, weight: Tensor, bias: Tensor, dilation: int, mul_free: bool) -> Tensor:
    return ops.charge(x, weight, bias, dilation, mul_free)


@charge.register_fake
def _(x, weight, bias, dilation, mul_free):
    return x.new_empty(x.shape, dtype=ops.acc_dtype(x.dtype))


@torch.library.custom_op(f"{NS}::charge_backward", mutates_args=())
def charge_backward(grad_h: Tensor, x: Tensor, weight: Tensor, dilation: int, mul_free: bool
                    ) -> tuple[Tensor, Tensor, Tensor]:
    return ops.backward(x, weight, None, dilation, ops.GIVEN, grad_h=grad_h, mul_free=mul_free)


@charge_backward.register_fake
def _(grad_h, x, weight, dilation, mul_free):
    acc = ops.acc_dtype(x.dtype)
    return (x.new_empty(x.shape), weight.new_empty(weight.shape, dtype=acc),
            weight.new_empty(weight.shape[:1], dtype=acc))


def _c_setup(ctx, inputs, output):
    x, weight, bias, dilation, mul_free = inputs
    ctx.save_for_backward(x, weight)
    ctx.args = (dilation, mul_free)
    ctx.dtypes = (weight.dtype, bias.dtype)


def _c_backward(ctx, grad_h):
    ops.refuse_create_graph()
    x, weight = ctx.saved_tensors
    dx, dw, db = charge_backward(grad_h, x, weight, *ctx.args)
    return dx, dw.to(ctx.dtypes[0]), db.to(ctx.dtypes[1]), None, None


charge.register_autograd(_c_backward, setup_context=_c_setup)


# --- moments -------------------------------------------------------------------------------
@torch.library.custom_op(f"{NS}::moments", mutates_args=())
def moments(x: Tensor, weight: Tensor, dilation: int) -> tuple[Tensor, Tensor]:
    return ops.moments(x, weight, dilation)


@moments.register_fake
def _(x, weight, dilation):
    acc = ops.acc_dtype(x.dtype)
    C = weight.shape[0]
    return weight.new_empty((C,), dtype=acc), weight.new_empty((C,), dtype=acc)


@torch.library.custom_op(f"{NS}::moments_backward", mutates_args=())
def moments_backward(grad_mean: Tensor, grad_var: Tensor, x: Tensor, weight: Tensor,
                     mean: Tensor, dilation: int) -> tuple[Tensor, Tensor]:
    return ops.moments_backward(x, weight, dilation, mean, grad_mean, grad_var)


@moments_backward.register_fake
def _(grad_mean, grad_var, x, weight, mean, dilation):
    return x.new_empty(x.shape), weight.new_empty(weight.shape,
                                                  dtype=ops.acc_dtype(x.dtype))


def _m_setup(ctx, inputs, output):
    x, weight, dilation = inputs
    ctx.save_for_backward(x, weight, output[0])
    ctx.dilation = dilation
    ctx.wdtype = weight.dtype


def _m_backward(ctx, grad_mean, grad_var):
    ops.refuse_create_graph()
    x, weight, mean = ctx.saved_tensors
    if grad_mean is None:
        grad_mean = torch.zeros_like(mean)
    if grad_var is None:
        grad_var = torch.zeros_like(mean)
    dx, dw = moments_backward(grad_mean, grad_var, x, weight, mean, ctx.dilation)
    return dx, dw.to(ctx.wdtype), None


moments.register_autograd(_m_backward, setup_context=_m_setup)
