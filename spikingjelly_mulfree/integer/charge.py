r"""The integer charge: left shifts and additions only (derivation in
:mod:`spikingjelly_mulfree.integer.plan`).

.. math::

    H^{int}[t, n, c, s] = \sum_{i:\, s_{c,i} \ne 0} \pm
    \bigl(q[t - (k-1-i)d,\, n, c, s] \ll \mathrm{shift}_{c,i}\bigr), \qquad q[t < 0] = 0

The sign of a tap selects between adding and subtracting the shifted input; a zero tap selects
nothing. No multiplication is performed. All arithmetic is in the accumulator dtype, which the
plan has checked cannot overflow.
"""
from __future__ import annotations

import torch


def _signed_term(
    q: torch.Tensor, shift: torch.Tensor, sign: torch.Tensor, accumulator: torch.dtype
) -> torch.Tensor:
    """``+-(q << shift)`` per channel (``q`` is ``[..., C, S]``; ``shift``/``sign`` are ``[C]``)."""
    view = (1,) * (q.dim() - 2) + (-1, 1)
    term = torch.bitwise_left_shift(q.to(accumulator), shift.to(accumulator).view(view))
    zero = torch.zeros((), dtype=accumulator, device=q.device)
    term = torch.where(sign.view(view) == 0, zero, term)
    return torch.where(sign.view(view) < 0, zero - term, term)


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
    k = shift.shape[1]
    h = torch.zeros(q.shape, dtype=accumulator, device=q.device)
    for i in range(k):
        lag = (k - 1 - i) * dilation
        if lag >= T:
            continue
        h[lag:] += _signed_term(q[: T - lag], shift[:, i], sign[:, i], accumulator)
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
    taps = window[::dilation]
    h = torch.zeros(window.shape[1:], dtype=accumulator, device=window.device)
    for i in range(shift.shape[1]):
        h += _signed_term(taps[i], shift[:, i], sign[:, i], accumulator)
    return h
