"""Closed-form derivatives of the common surrogates, for backward passes that fuse them.

A fused backward recomputes the charge ``h`` and turns the incoming gradient into
``grad_s * g'(h)`` in two passes instead of keeping the surrogate's autograd graph. The result is
written over ``h``, which the callers recompute for this and need no longer: a backward then holds
one ``[T, N, C, S]`` temporary fewer. In a backward that builds a graph (``create_graph=True``)
or that torch.compile traces, the same operations run out of place (autograd can differentiate
them again; the result may take the gradient's strides) and round alike. Surrogates not listed
here (or in ``spiking=False`` mode) return ``None`` and go through their own autograd.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from spikingjelly.activation_based import surrogate as sj_surrogate

from ..surrogate import Rational

SurrogateBackward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _in_place(h: torch.Tensor) -> bool:
    """Whether the derivative may overwrite ``h``: not when autograd records it (double
    backward), not on meta tensors (no scalar on their device) and not while torch.compile
    traces (functionalisation gives an ``out=`` result the strides of its first input)."""
    return not (torch.is_grad_enabled() or h.is_meta or torch.compiler.is_compiling())


def _over_quadratic(grad_s: torch.Tensor, h: torch.Tensor, value: float,
                    scale: float) -> torch.Tensor:
    """``grad_s / (value + scale * h * h)``, written over ``h`` where :func:`_in_place`
    allows: one ``addcmul`` and one division either way, so both forms round alike."""
    const = torch.tensor(value, dtype=h.dtype)
    if _in_place(h):
        den = torch.addcmul(const, h, h, value=scale, out=h)
        return torch.div(grad_s, den, out=den)
    return grad_s / torch.addcmul(const, h, h, value=scale)


def _atan(alpha: float) -> SurrogateBackward:
    c2 = (math.pi / 2 * alpha) ** 2

    def backward(grad_s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return _over_quadratic(grad_s, h, 2 / alpha, 2 * c2 / alpha)

    return backward


def _sigmoid(alpha: float) -> SurrogateBackward:
    def backward(grad_s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if _in_place(h):
            s = h.mul_(alpha).sigmoid_()
            return s.addcmul_(s, s, value=-1.0).mul_(grad_s).mul_(alpha)  # alpha s (1-s) grad_s
        s = torch.sigmoid(h * alpha)
        return torch.addcmul(s, s, s, value=-1.0).mul(grad_s).mul(alpha)

    return backward


def _rational(alpha: float) -> SurrogateBackward:
    def backward(grad_s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return _over_quadratic(grad_s, h, 1.0, alpha)

    return backward


_KNOWN: dict[type, Callable[[float], SurrogateBackward]] = {
    sj_surrogate.ATan: _atan, sj_surrogate.Sigmoid: _sigmoid, Rational: _rational,
}


def fused_surrogate_grad(surrogate_function: torch.nn.Module) -> SurrogateBackward | None:
    """``(grad_s, h) -> grad_s * g'(h)``, written over ``h``, for ATan, Sigmoid and Rational in
    spiking mode; ``None`` otherwise.

    Example:
        >>> g = fused_surrogate_grad(sj_surrogate.ATan(alpha=2.0))
        >>> g(torch.ones(1), torch.zeros(1)).item()
        1.0
    """
    make = _KNOWN.get(type(surrogate_function))
    if make is None or not getattr(surrogate_function, "spiking", False):
        return None
    return make(float(surrogate_function.alpha))
