r"""Exact conversion of a power-of-two kernel and a real bias to shifts and an integer threshold.

The real neuron fires when

.. math::

    H = \sum_i s_{c,i}\, 2^{e_{c,i}}\, X[t - (k-1-i)d] + b_c \;\ge\; 0,
    \qquad X = q\, 2^{-f},

with ``q`` the integer input and ``f = frac_bits``. Let ``m_c`` be the smallest exponent among
the non-zero taps of channel ``c`` (0 when the channel has none). Then

.. math::

    H = 2^{m_c - f}\, H^{int} + b_c, \qquad
    H^{int} = \sum_{i:\, s_{c,i} \ne 0} \pm\,\bigl(q[t - (k-1-i)d] \ll (e_{c,i} - m_c)\bigr),

an integer made of left shifts (by ``e_{c,i} - m_c >= 0``, so no bit is lost) and additions.
Since ``2^{m_c - f} > 0`` and ``H^{int}`` is an integer,

.. math::

    H \ge 0 \iff H^{int} \ge -b_c\, 2^{f - m_c} \iff H^{int} \ge \theta_c :=
    \lceil -b_c\, 2^{f - m_c} \rceil .

``theta_c`` is computed with exact rational arithmetic (``fractions.Fraction`` of the
floating bias), so ties (``H = 0`` exactly) fire, as in the real neuron.

**Worst-case bound.** With ``|q| <= 2^{B-1}`` for a ``B``-bit input,
``|H^{int}| <= 2^{B-1} \sum_{i: s_{c,i} \ne 0} 2^{e_{c,i} - m_c} =: M_c`` and every partial sum
obeys the same bound. Thresholds are clamped to ``[-M_c, M_c + 1]`` (beyond it the outcome is
the same for every input), so an accumulator holding ``max_c M_c + 1`` never overflows: int32
when that is at most ``2^31 - 1``, else int64 (at most ``2^63 - 1``); larger bounds are refused
up front. The accumulator also holds an input itself (``2^{B-1}`` negated), so int32 inputs
take int64 even when every tap is zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch

from ..functional.checks import first_index
from .fixed_point import check_frac_bits, check_input_dtype

ACCUMULATORS = ("auto", torch.int32, torch.int64)


@dataclass(frozen=True)
class IntegerPlan:
    """Everything the integer neuron needs, as exact integers.

    Attributes:
        shift: ``[C, k]`` int64 left shift of each tap (``e - m_c``; 0 where the tap is zero).
        sign: ``[C, k]`` int8 in ``{-1, 0, 1}``.
        threshold: ``[C]`` int64, fire when ``H_int >= threshold``.
        min_exp: ``[C]`` int64 ``m_c``: ``H = 2**(m_c - frac_bits) * H_int + b``.
        bound: ``max_c M_c``, the worst-case ``|H_int|``.
        accumulator: ``torch.int32`` or ``torch.int64``.
        dtype, frac_bits: the input format the bound and thresholds were computed for
            (``None``: not recorded; :class:`~spikingjelly_mulfree.integer.IntegerCPSN` then
            rechecks the bound for its own dtype).

    Example:
        Taps ``[-0.5, 2]``: ``m_c = -1``, shifts 0 and 2; fire when
        ``H_int >= ceil(-b * 2**(f - m_c)) = ceil(-1 * 2**(4 + 1))``.

        >>> plan = make_plan(torch.tensor([[-0.5, 2.0]]), torch.tensor([1.0]), 4, torch.int8)
        >>> plan.shift.tolist(), plan.sign.tolist(), plan.min_exp.tolist()
        ([[0, 2]], [[-1, 1]], [-1])
        >>> plan.threshold.tolist(), plan.bound, plan.accumulator, plan.frac_bits
        ([-32], 640, torch.int32, 4)
    """

    shift: torch.Tensor
    sign: torch.Tensor
    threshold: torch.Tensor
    min_exp: torch.Tensor
    bound: int
    accumulator: torch.dtype
    dtype: torch.dtype | None = None
    frac_bits: int | None = None


def pow2_decompose(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``(sign, exp)`` of a tensor whose entries are all 0 or ``+-2**e``.

    Unlike :func:`~spikingjelly_mulfree.functional.quantize.pow2_exponent` this does not round:
    it raises ``ValueError`` if an entry is not exactly a signed power of two.

    Returns:
        ``sign`` int8 and ``exp`` int64 (0 where ``sign`` is 0), shaped like ``weight``.

    Example:
        >>> s, e = pow2_decompose(torch.tensor([0.5, -4.0, 0.0]))
        >>> s.tolist(), e.tolist()
        ([1, -1, 0], [-1, 2, 0])
    """
    if not weight.is_floating_point():
        raise ValueError(f"weight: expected floating-point taps, got dtype {weight.dtype}")
    finite = torch.isfinite(weight)
    if not bool(finite.all()):
        idx = first_index(~finite)
        raise ValueError(
            f"weight: expected finite taps, got {weight[idx].item()} at index {idx}; a NaN tap "
            "comes from a NaN latent weight (training diverged) or NaN running statistics"
        )
    w = weight.detach().to(torch.float64)
    mantissa, exponent = torch.frexp(w)
    nonzero = w != 0
    bad = nonzero & (mantissa.abs() != 0.5)
    if bool(bad.any()):
        idx = first_index(bad)
        raise ValueError(
            f"weight: expected every tap to be 0 or +-2**e, got {w[idx].item()!r} at index "
            f"{idx}; integer inference needs a CPSN built with mul_free=True"
        )
    sign = torch.sign(w).to(torch.int8)
    exp = exponent.to(torch.int64) - 1
    exp = torch.where(nonzero, exp, torch.zeros_like(exp))
    return sign, exp


def channel_bounds(shift: torch.Tensor, sign: torch.Tensor, bits: int) -> list[int]:
    """The worst-case ``|H_int|`` of each channel, ``M_c = 2**(bits-1) * sum_i 2**shift[c, i]``
    over its non-zero taps, as exact Python integers.

    Args:
        shift: ``[C, k]`` left shifts (``>= 0``); sign: ``[C, k]`` in ``{-1, 0, 1}``.
        bits: width of the integer input (8, 16 or 32).

    Example:
        >>> channel_bounds(torch.tensor([[0, 2], [5, 0]]), torch.tensor([[1, -1], [0, 1]]), 8)
        [640, 128]
    """
    return [
        2 ** (bits - 1) * sum(2**s for s, z in zip(srow, zrow) if z)
        for srow, zrow in zip(shift.tolist(), (sign != 0).tolist())
    ]


def holds_input(accumulator: torch.dtype, bits: int) -> bool:
    """Whether ``accumulator`` holds a ``bits``-bit input itself, negated (``2**(bits - 1)``):
    every integer path adds the inputs into it, so int32 inputs need int64 even for an all-zero
    kernel.

    Example:
        >>> holds_input(torch.int32, 16), holds_input(torch.int32, 32)
        (True, False)
    """
    return 2 ** (bits - 1) <= torch.iinfo(accumulator).max


def input_too_wide(accumulator: torch.dtype, bits: int, fix: str) -> str:
    """The error text for ``bits``-bit inputs that ``accumulator`` cannot hold, ending in
    ``fix``."""
    return (f"accumulator: int{bits} inputs need a wider accumulator than {accumulator} (|q| "
            f"alone reaches 2**{bits - 1}); {fix}")


def _accumulator(bounds: list[int], exp_span: list[tuple[int, int]],
                 accumulator: object, bits: int) -> torch.dtype:
    """The accumulator for ``max(bounds)`` and ``bits``-bit inputs (the accumulator holds an
    input itself, negated: ``2**(bits - 1)``, which only matters for int32 inputs and an
    all-zero kernel, whose bound is 0); ``exp_span[c]`` is channel ``c``'s smallest and
    largest tap exponent (for the error's advice)."""
    if accumulator not in ACCUMULATORS:
        raise ValueError(f"accumulator: expected one of {ACCUMULATORS}, got {accumulator!r}")
    bound = max(bounds)
    need = bound + 1
    candidates = (torch.int32, torch.int64) if accumulator == "auto" else (accumulator,)
    for dtype in candidates:
        if need <= torch.iinfo(dtype).max and holds_input(dtype, bits):
            return dtype
    if need <= torch.iinfo(candidates[-1]).max:
        raise OverflowError(input_too_wide(candidates[-1], bits,
                                           "pass accumulator='auto' or torch.int64"))
    widen = "" if torch.int64 in candidates else "pass accumulator='auto' to allow int64, "
    narrower = "" if bits == 8 else "use a narrower input dtype, or "
    c = bounds.index(bound)
    lo, hi = exp_span[c]
    raise OverflowError(
        f"the worst-case integer charge needs |H_int| <= {bound} (2**{math.log2(bound):.1f}), "
        f"more than {candidates[-1]} holds (max {torch.iinfo(candidates[-1]).max}): channel "
        f"{c}'s taps span 2**{lo} to 2**{hi}; {widen}{narrower}narrow the "
        "CPSN's exp_range so the taps' exponents span less (the bound does not depend on "
        "frac_bits)"
    )


def _threshold(bias: float, scale: int, bound: int) -> int:
    """``ceil(-bias * 2**scale)`` clamped to ``[-bound, bound + 1]`` (where every charge
    ``|H_int| <= bound`` gives the same spikes), without forming ``2**scale`` when the product
    lies far outside that range or below a quarter (it took seconds at ``frac_bits = 1e9``)."""
    if bias != 0.0:
        _, e = math.frexp(bias)  # 2**(e - 1) <= |bias| < 2**e
        if e - 1 + scale > bound.bit_length():  # |product| > bound + 1
            return -bound if bias > 0 else bound + 1
        if e + scale < -1:  # 0 < |product| < 1/4: ceil is 0 or 1
            return min(max(0 if bias > 0 else 1, -bound), bound + 1)
    exact = -Fraction(bias) * Fraction(2) ** scale
    return min(max(math.ceil(exact), -bound), bound + 1)


def make_plan(
    weight: torch.Tensor,
    bias: torch.Tensor,
    frac_bits: int,
    dtype: torch.dtype,
    accumulator: str | torch.dtype = "auto",
) -> IntegerPlan:
    """Shifts, signs and the exact integer threshold for a power-of-two kernel.

    Args:
        weight: ``[C, k]`` taps, each 0 or ``+-2**e`` (e.g. ``CPSN.effective_kernel()[0]``).
        bias: ``[C]`` real bias (fire when ``H >= 0``).
        frac_bits: fractional bits of the integer input.
        dtype: input dtype (int8, int16 or int32).
        accumulator: ``'auto'`` (int32 if the bound allows, else int64), ``torch.int32`` or
            ``torch.int64`` (raises ``OverflowError`` if the bound does not fit).

    Returns:
        An :class:`IntegerPlan` (see the module docstring for the derivation).

    Example:
        >>> p = make_plan(torch.tensor([[0.25, 1.0]]), torch.tensor([-0.3]), 4, torch.int8)
        >>> # fire when H_int >= ceil(0.3 * 2**(4 + 2)) = 20
        >>> p.shift.tolist(), p.threshold.tolist(), p.accumulator
        ([[0, 2]], [20], torch.int32)
    """
    frac_bits = check_frac_bits(frac_bits)
    dtype = check_input_dtype(dtype)
    bits = torch.iinfo(dtype).bits
    if weight.dim() != 2 or bias.shape != weight.shape[:1] or 0 in weight.shape:
        raise ValueError(
            f"weight, bias: expected shapes [C, k] and [C] with C, k >= 1, got "
            f"{tuple(weight.shape)} and {tuple(bias.shape)}"
        )
    if not bias.is_floating_point() or not bool(torch.isfinite(bias).all()):
        raise ValueError(f"bias: expected finite floating-point values, got {bias}")
    sign, exp = pow2_decompose(weight)
    nonzero = sign != 0
    big = torch.iinfo(torch.int64).max
    min_exp = torch.where(nonzero, exp, torch.full_like(exp, big)).amin(dim=1)
    min_exp = torch.where(nonzero.any(dim=1), min_exp, torch.zeros_like(min_exp))
    shift = torch.where(nonzero, exp - min_exp.unsqueeze(1), torch.zeros_like(exp))

    bounds = channel_bounds(shift, sign, bits)
    span = [(m, m + (max(row) if any(z) else 0))
            for m, row, z in zip(min_exp.tolist(), shift.tolist(), nonzero.tolist())]
    acc = _accumulator(bounds, span, accumulator, bits)
    thresholds = [_threshold(b, frac_bits - m, mc)
                  for b, m, mc in zip(bias.detach().cpu().tolist(), min_exp.tolist(), bounds)]
    return IntegerPlan(
        shift=shift,
        sign=sign,
        threshold=torch.tensor(thresholds, dtype=torch.int64),
        min_exp=min_exp,
        bound=max(bounds),
        accumulator=acc,
        dtype=dtype,
        frac_bits=frac_bits,
    )
