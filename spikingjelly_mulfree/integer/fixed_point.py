"""Fixed-point number format of the integer neuron's inputs.

An integer ``q`` of dtype int8, int16 or int32 with ``frac_bits`` fractional bits stands for
the real number ``q * 2**-frac_bits``. ``frac_bits`` may be any integer (negative values give
a grid coarser than 1).
"""
from __future__ import annotations

import numbers

import torch

from ..functional.checks import first_index

INPUT_DTYPES = (torch.int8, torch.int16, torch.int32)


def check_input_dtype(dtype: object) -> torch.dtype:
    """Return ``dtype`` if it is an allowed fixed-point input dtype (:data:`INPUT_DTYPES`),
    else raise ``ValueError``.

    Example:
        >>> check_input_dtype(torch.int16)
        torch.int16
        >>> check_input_dtype(torch.uint8)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: dtype: expected one of (torch.int8, torch.int16, torch.int32) ... torch.uint8
    """
    if dtype not in INPUT_DTYPES:
        raise ValueError(
            f"dtype: expected one of {INPUT_DTYPES} for the fixed-point input, got {dtype!r}"
        )
    return dtype


def check_frac_bits(frac_bits: object) -> int:
    """Return ``frac_bits`` as an ``int``; raise ``ValueError`` for non-integers.

    Example:
        >>> check_frac_bits(-2)
        -2
        >>> check_frac_bits(0.5)
        Traceback (most recent call last):
        ...
        ValueError: frac_bits: expected an integer number of fractional bits, got 0.5
    """
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, numbers.Integral):
        raise ValueError(
            f"frac_bits: expected an integer number of fractional bits, got {frac_bits!r}"
        )
    return int(frac_bits)


def scale_pow2(x: torch.Tensor, exponent: int) -> torch.Tensor:
    """``x * 2**exponent`` for a float64 ``x``, rounded once to the nearest float64 for every
    integer ``exponent`` (``torch.ldexp`` forms ``2**exponent`` as a float64, which is 0 or inf
    outside ``[-1074, 1023]``: ``0 * inf`` gave NaN).

    Upwards the scaling goes in steps of ``2**1023`` (exact until it overflows, which the
    result then does too); downwards beyond ``2**-1074`` it scales ``x``'s significand in
    ``[1/2, 1)`` by its whole exponent in one rounding.

    Example:
        >>> x = torch.tensor([3.0, 0.0, -float("inf")], dtype=torch.float64)
        >>> scale_pow2(x, -1076).tolist()  # 3/4 of the smallest subnormal rounds up to it
        [5e-324, 0.0, -inf]
        >>> scale_pow2(torch.tensor([5e-324], dtype=torch.float64), 2000).item() == 2.0**926
        True
    """
    if -1074 <= exponent <= 1023:
        return torch.ldexp(x, torch.tensor(float(exponent), dtype=torch.float64))
    if exponent > 0:
        exponent = min(exponent, 3 * 1023)  # beyond, every non-zero finite value overflows
        while exponent > 0:
            step = min(exponent, 1023)
            x = torch.ldexp(x, torch.tensor(float(step), dtype=torch.float64))
            exponent -= step
        return x
    mantissa, own = torch.frexp(x)
    total = (own.to(torch.float64) + max(exponent, -3000)).clamp(min=-1100.0)
    return torch.where(torch.isinf(x), x, torch.ldexp(mantissa, total))


def quantize_input(
    x: torch.Tensor, frac_bits: int, dtype: torch.dtype = torch.int16
) -> torch.Tensor:
    """Round a real tensor to the fixed-point grid (nearest, ties to even) and saturate
    (infinities included); NaN is refused with ``ValueError``.

    Args:
        x: real values, any shape, floating dtype.
        frac_bits: fractional bits of the format.
        dtype: int8, int16 or int32.

    Returns:
        ``q`` of ``dtype``, shaped like ``x``, with ``q * 2**-frac_bits`` the nearest
        representable value (clamped to the dtype's range).

    Example:
        >>> quantize_input(torch.tensor([0.3, -1.0, 100.0]), 4, torch.int8).tolist()
        [5, -16, 127]
    """
    dtype = check_input_dtype(dtype)
    frac_bits = check_frac_bits(frac_bits)
    if not x.is_floating_point():
        raise TypeError(f"x: expected a floating-point tensor, got {x.dtype}; cast with .float()")
    nan = torch.isnan(x)
    if bool(nan.any()):
        raise ValueError(
            f"x: expected no NaN (it has no fixed-point value), got NaN at index "
            f"{first_index(nan)}; "
            "replace it first, e.g. x.nan_to_num(0.0)"
        )
    info = torch.iinfo(dtype)
    scaled = torch.round(scale_pow2(x.to(torch.float64), frac_bits))
    return scaled.clamp(info.min, info.max).to(dtype)


def dequantize(q: torch.Tensor, frac_bits: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The real value ``q * 2**-frac_bits``: exact in float64 for int8/int16/int32 inputs with
    ``-992 <= frac_bits <= 1043``, beyond that the nearest float64 (0 or inf at the extremes).

    Example:
        >>> dequantize(torch.tensor([5, -16], dtype=torch.int8), 4).tolist()
        [0.3125, -1.0]
    """
    frac_bits = check_frac_bits(frac_bits)
    return scale_pow2(q.to(torch.float64), -frac_bits).to(dtype)
