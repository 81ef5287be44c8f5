"""Single-step update: the charge of one step from a window of the last inputs.

The state is a window ``[R, N, C, *]`` of the last ``R = (k-1)d + 1`` inputs, zero before the
sequence starts. It is kept in one of two orders:

* time order, oldest first: :func:`push_window` appends out of place (a new window each step, so
  autograd can reach every past input — the training path) and :func:`step_charge` reads it;
* a ring: :func:`ring_charge` writes the input into slot ``pos`` in place and reads the ``k`` tap
  rows by slot index, ``pos`` then advances to ``(pos + 1) % R`` — no copy of the window (the
  inference path). The oldest input sits in slot ``pos``, so ``window.roll(-pos, 0)`` is the
  time-ordered window.

Stepping either through a sequence gives the charge of
:func:`~spikingjelly_mulfree.functional.charge.charge_reference` on the whole sequence, up to
float rounding: the three add the taps and the bias in different orders.
"""
from __future__ import annotations

import numbers

import torch

from .checks import check_taps, check_window_length

_WINDOW = "[R, N, C, *]"


def push_window(window: torch.Tensor | None, x: torch.Tensor, length: int) -> torch.Tensor:
    """Append ``x`` ``[N, C, *]`` to the window, dropping the oldest step (out of place).

    Args:
        window: ``[R, N, C, *]`` or ``None`` (a fresh, all-zero past).
        x: the current input ``[N, C, *]``. length: ``R >= 1``, the steps the window keeps.

    Returns:
        The new window ``[R, N, C, *]`` in ``window``'s dtype (``x``'s for a fresh one).

    Example:
        >>> w = push_window(None, torch.ones(1, 1), 3)
        >>> push_window(w, 2 * torch.ones(1, 1), 3).flatten().tolist()
        [0.0, 1.0, 2.0]
    """
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"length: expected an integer >= 1 (R = (k-1)*dilation + 1), got "
                         f"{length!r}")
    if window is None:
        window = x.new_zeros((length, *x.shape))
    elif tuple(window.shape) != (length, *x.shape):
        raise ValueError(
            f"window: expected [R={length}, *x.shape] = {(length, *x.shape)} for x of shape "
            f"{tuple(x.shape)}, got {tuple(window.shape)}; start a new sequence with window=None"
        )
    return torch.cat([window[1:], x.unsqueeze(0).to(window.dtype)])


def step_charge(
    window: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int
) -> torch.Tensor:
    """Charge of the newest step in ``window``: ``sum_i W[c, i] * window[i * d] + b[c]``.

    Args:
        window: ``[R, N, C, *]`` with ``R = (k-1)d + 1``; weight ``[C, k]``; bias ``[C]``.

    Returns:
        ``H[t]`` shaped ``[N, C, *]``.

    Example:
        >>> window = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)
        >>> step_charge(window, torch.tensor([[0.5, 1.0]]), torch.tensor([0.25]), 2).flatten()
        tensor([3.7500])
    """
    check_taps("window", window, _WINDOW, weight, bias, dilation, exact_dims=False)
    check_window_length("window", window, weight.shape[1], dilation,
                        "build it with push_window(..., length={R})")
    taps = window[::dilation]
    C = weight.shape[0]
    lead = taps.shape[:3]
    h = torch.einsum("knca,ck->nca", taps.reshape(*lead, -1), weight.to(window.dtype))
    if bias is not None:
        h = h + bias.to(window.dtype).view(1, C, 1)
    return h.view(taps.shape[1:])


@torch.no_grad()
def ring_charge(
    ring: torch.Tensor, pos: int, x: torch.Tensor, weight: torch.Tensor,
    bias: torch.Tensor | None, dilation: int,
) -> torch.Tensor:
    """Write ``x`` into ``ring[pos]`` (in place) and return the charge of this step.

    Tap ``i`` reads slot ``(pos - (k-1-i) d) mod R``; the taps are added one at a time onto the
    bias (``k`` in-place multiply-adds over ``[N, C, *]``, no copy of the window). Gradients are
    not tracked (it runs under ``torch.no_grad``): the module uses it only when none are needed.

    Args:
        ring: ``[R, N, C, *]``, ``R = (k-1)d + 1``, in the accumulator dtype; modified in place.
        pos: the slot ``x`` goes to (the oldest input's); the caller advances it to
            ``(pos + 1) % R``.
        x: ``[N, C, *]`` (any floating dtype; stored in ``ring.dtype``).
        weight: ``[C, k]``; bias: ``[C]`` or ``None``; dilation: ``d``.

    Returns:
        ``H[t]`` shaped ``[N, C, *]`` in ``ring.dtype``.

    Example:
        >>> ring = torch.zeros(3, 1, 1)
        >>> w = torch.tensor([[0.5, 1.0]])
        >>> [ring_charge(ring, t % 3, torch.ones(1, 1), w, None, 2).item() for t in range(4)]
        [1.0, 1.0, 1.5, 1.5]
    """
    check_taps("ring", ring, _WINDOW, weight, bias, dilation, exact_dims=False)
    check_window_length("ring", ring, weight.shape[1], dilation,
                        "allocate it as torch.zeros(R, *x.shape) with R = {R}")
    if tuple(ring.shape[1:]) != tuple(x.shape):
        raise ValueError(f"x: expected shape {tuple(ring.shape[1:])} like a slot of the ring "
                         f"{tuple(ring.shape)}, got {tuple(x.shape)}")
    R = ring.shape[0]
    C, k = weight.shape
    ring[pos].copy_(x)
    shape = (1, C) + (1,) * (x.dim() - 2)
    taps = weight.to(ring.dtype).t().contiguous()
    h = torch.zeros_like(ring[0]) if bias is None else (
        bias.to(ring.dtype).view(shape).expand_as(ring[0]).clone())
    slot = (pos + 1) % R  # tap 0: the input (k-1)d = R-1 steps back
    for i in range(k):
        h.addcmul_(ring[slot], taps[i].view(shape))
        slot = (slot + dilation) % R
    return h
