r"""The integer charge: left shifts and additions only (derivation in
:mod:`spikingjelly_mulfree.integer.plan`).

.. math::

    H^{int}[t, n, c, s] = \sum_{i:\, s_{c,i} \ne 0} \pm
    \bigl(q[t - (k-1-i)d,\, n, c, s] \ll \mathrm{shift}_{c,i}\bigr), \qquad q[t < 0] = 0

A negative tap negates the shifted input in two's complement (flip the bits, add one) before it
is added; a zero tap is masked to 0 with a bitwise and. No multiplication is performed. All
arithmetic is in the accumulator dtype, which the plan has checked cannot overflow.
"""
from __future__ import annotations

import torch


class _Taps:
    """Per-tap broadcast views ``[C, 1]`` of the shifts and of two bit masks, in the accumulator
    dtype: ``keep`` is all ones for a non-zero tap and 0 for a zero tap; ``neg`` is all ones for
    a negative tap. ``((t & keep) ^ neg) - neg`` is ``+t``, ``-t`` or ``0`` (two's complement
    negation: flip every bit, add one). Eagerly, a mask no channel needs is skipped; under
    torch.compile (which cannot branch on the taps' values) every mask is applied, and an
    all-ones ``keep`` or a zero ``neg`` leaves the value as it is."""

    def __init__(self, shift: torch.Tensor, sign: torch.Tensor, accumulator: torch.dtype):
        self.shift = shift.to(accumulator).unsqueeze(-1)
        self.keep = -(sign != 0).to(accumulator).unsqueeze(-1)
        self.neg = -(sign < 0).to(accumulator).unsqueeze(-1)
        if torch.compiler.is_compiling():
            self.any_zero = self.any_neg = [True] * sign.shape[1]
        else:
            self.any_zero = (sign == 0).any(dim=0).tolist()
            self.any_neg = (sign < 0).any(dim=0).tolist()

    def apply(self, q: torch.Tensor, i: int, out: torch.Tensor) -> torch.Tensor:
        """``out = +-(q << shift[:, i])`` (0 for zero taps), with ``q`` ``[..., C, S]``."""
        torch.bitwise_left_shift(q, self.shift[:, i], out=out)
        if self.any_zero[i]:
            out.bitwise_and_(self.keep[:, i])
        if self.any_neg[i]:
            out.bitwise_xor_(self.neg[:, i]).sub_(self.neg[:, i])
        return out


def integer_charge(
    q: torch.Tensor,
    shift: torch.Tensor,
    sign: torch.Tensor,
    dilation: int,
    accumulator: torch.dtype,
) -> torch.Tensor:
    """Integer charge of a whole sequence.

    Args:
        q: ``[T, N, C, S]`` integer input.
        shift: ``[C, k]`` left shifts; sign: ``[C, k]`` in ``{-1, 0, 1}``.
        dilation: ``d >= 1``. accumulator: ``torch.int32`` or ``torch.int64``.

    Returns:
        ``H_int`` ``[T, N, C, S]`` in ``accumulator``.

    Example:
        >>> q = torch.tensor([1, 2, 3], dtype=torch.int8).view(3, 1, 1, 1)
        >>> shift, sign = torch.tensor([[1, 0]]), torch.tensor([[-1, 1]])
        >>> integer_charge(q, shift, sign, 1, torch.int32).flatten().tolist()
        [1, 0, -1]
    """
    T = q.shape[0]
    taps = _Taps(shift, sign, accumulator)
    wide = q.to(accumulator)
    h = torch.zeros_like(wide)
    buf = torch.empty_like(wide)
    k = shift.shape[1]
    for i in range(k):
        lag = (k - 1 - i) * dilation
        if lag >= T:
            continue
        h[lag:] += taps.apply(wide[: T - lag], i, buf[: T - lag])
    return h


def integer_step_charge(
    window: torch.Tensor,
    shift: torch.Tensor,
    sign: torch.Tensor,
    dilation: int,
    accumulator: torch.dtype,
) -> torch.Tensor:
    """Integer charge of the newest step of a window ``[R, N, C, S]`` (oldest first,
    ``R = (k-1)d + 1``), the single-step counterpart of :func:`integer_charge`.

    Returns:
        ``H_int[t]`` ``[N, C, S]`` in ``accumulator``.

    Example:
        >>> w = torch.tensor([2, 3], dtype=torch.int8).view(2, 1, 1, 1)
        >>> shift, sign = torch.tensor([[1, 0]]), torch.tensor([[-1, 1]])
        >>> integer_step_charge(w, shift, sign, 1, torch.int32).flatten().tolist()
        [-1]
    """
    steps = window[::dilation].to(accumulator)
    taps = _Taps(shift, sign, accumulator)
    h = torch.zeros_like(steps[0])
    buf = torch.empty_like(h)
    for i in range(shift.shape[1]):
        h += taps.apply(steps[i], i, buf)
    return h
