"""Power-of-two weight quantizer with a whole-quantizer straight-through estimator.

The quantizer maps a real weight to the nearest power of two in the log2 domain:

.. math::

    Q(w) = \\operatorname{sign}(w)\\, 2^{\\operatorname{clamp}(\\operatorname{round}(\\log_2 |w|),\\,
    e_{\\min},\\, e_{\\max})}

with three rules the paper leaves open (our reading, see ``docs/neuron.md``):

* ``Q(0) = 0`` exactly;
* the exponent is clamped to ``[min_exp, max_exp]``;
* a weight whose rounded exponent falls below ``min_exp`` underflows to ``0`` (it is not
  pushed up to ``2**min_exp``), so tiny weights are switched off rather than amplified;
* ``Q(NaN) = NaN``: a diverged weight stays visible (it is no power of two to round to).

Backward is the identity (``dQ/dw := 1``): the whole quantizer is one straight-through
estimator, which stays finite at ``w = 0`` unlike the per-operation estimator.
"""
from __future__ import annotations

import math

import torch

from .checks import first_index

DEFAULT_MIN_EXP = -24
DEFAULT_MAX_EXP = 8


def _check_range(min_exp: int, max_exp: int) -> None:
    if not (isinstance(min_exp, int) and isinstance(max_exp, int)) or min_exp > max_exp:
        raise ValueError(
            f"exponent range: expected integers min_exp <= max_exp, got min_exp={min_exp!r}, "
            f"max_exp={max_exp!r}; pass e.g. exp_range=(-24, 8)"
        )


def _rounded_log2(w64: torch.Tensor) -> torch.Tensor:
    """``round(log2 |w|)`` of float64 weights as ``floor(log2(|w| sqrt 2))``: ``-inf`` at 0,
    ``inf`` at infinity. (A tie, ``|w| = 2**(k + 1/2)``, is irrational, so no float weight meets
    one; this gives the same integers as ``torch.round(torch.log2(|w|))`` on every value of
    every float dtype we tried.)"""
    # sqrt 2 spelled here, not read from a module-level float: torch.compile(dynamic=True)
    # makes a global float a symbolic input, which a custom autograd forward cannot capture
    return torch.floor(torch.log2(w64.abs().mul_(math.sqrt(2.0))))


def pow2_exponent(
    w: torch.Tensor, min_exp: int = DEFAULT_MIN_EXP, max_exp: int = DEFAULT_MAX_EXP
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sign and exponent of :math:`Q(w)`.

    Args:
        w: real weights, any shape, floating dtype.
        min_exp, max_exp: the exponent range.

    Returns:
        ``(sign, exp)``, both ``int32`` and shaped like ``w``: ``sign`` in ``{-1, 0, 1}`` (0 where
        ``Q(w) = 0``), ``exp`` the integer exponent (``min_exp`` where ``sign`` is 0), so
        ``Q(w) = sign * 2**exp``.

    Example:
        >>> s, e = pow2_exponent(torch.tensor([0.36, -0.3, 0.0]))
        >>> s.tolist(), e.tolist()
        ([1, -1, 0], [-1, -2, -24])
    """
    _check_range(min_exp, max_exp)
    w = w.detach()
    nan = torch.isnan(w)
    if bool(nan.any()):
        raise ValueError(f"w: expected real weights, got NaN at index {first_index(nan)} (a diverged "
                         "weight has no sign and exponent)")
    raw = _rounded_log2(w.to(torch.float64))
    keep = raw >= min_exp
    exp = torch.where(keep, raw.clamp(max=max_exp), min_exp).to(torch.int32)
    sign = torch.where(keep, torch.sign(w), 0).to(torch.int32)
    return sign, exp


def _quantize_value(w: torch.Tensor, min_exp: int, max_exp: int) -> torch.Tensor:
    """:math:`Q(w)` in few tensor ops (the training step runs it on every fused kernel); equal
    to ``sign * 2**exp`` of :func:`pow2_exponent`."""
    w64 = w.detach().to(torch.float64)
    raw = _rounded_log2(w64)
    mag = torch.exp2(raw.clamp(max=max_exp))
    q = torch.where(raw >= min_exp, torch.copysign(mag, w64), 0.0)
    return torch.where(torch.isnan(w64), w64, q).to(w.dtype)


class _Pow2STE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: torch.Tensor, min_exp: int, max_exp: int) -> torch.Tensor:
        return _quantize_value(w, min_exp, max_exp)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None


def quantize_pow2(
    w: torch.Tensor, min_exp: int = DEFAULT_MIN_EXP, max_exp: int = DEFAULT_MAX_EXP
) -> torch.Tensor:
    """Round ``w`` to signed powers of two; gradient passes straight through.

    Args:
        w: real weights, any shape, floating dtype.
        min_exp, max_exp: the clamp range of the exponent (defaults -24 and 8).

    Returns:
        A tensor shaped and typed like ``w`` whose entries are ``0`` or ``+-2**e`` with
        ``min_exp <= e <= max_exp``. ``d out / d w`` is the identity.

    Example:
        >>> quantize_pow2(torch.tensor([0.36, 0.3, -3.0, 0.0])).tolist()
        [0.5, 0.25, -4.0, 0.0]
    """
    if not w.is_floating_point():
        raise TypeError(f"w: expected a floating-point tensor, got dtype {w.dtype}; cast with .float()")
    _check_range(min_exp, max_exp)
    return _Pow2STE.apply(w, min_exp, max_exp)
