"""Single-step update: the charge of one step from a window of the last inputs.

The state is a window ``[R, N, C, *]`` of the last ``R = (k-1)d + 1`` inputs, oldest first,
zero before the sequence starts. Stepping the window through a sequence and applying
:func:`step_charge` at each step gives exactly the charge of
:func:`~spikingjelly_mulfree.functional.charge.charge_reference` on the whole sequence.
"""
from __future__ import annotations

import torch


def push_window(window: torch.Tensor | None, x: torch.Tensor, length: int) -> torch.Tensor:
    """Append ``x`` ``[N, C, *]`` to the window, dropping the oldest step (out of place).

    Args:
        window: ``[R, N, C, *]`` or ``None`` (a fresh, all-zero past).
        x: the current input. length: ``R``.

    Example:
        >>> w = push_window(None, torch.ones(1, 1), 3)
        >>> push_window(w, 2 * torch.ones(1, 1), 3).flatten().tolist()
        [0.0, 1.0, 2.0]
    """
    if window is None:
        window = x.new_zeros((length, *x.shape))
    return torch.cat([window[1:], x.unsqueeze(0).to(window.dtype)])


def step_charge(
    window: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int
) -> torch.Tensor:
    """Charge of the newest step in ``window``: ``sum_i W[c, i] * window[i * d] + b[c]``.

    Args:
        window: ``[R, N, C, *]`` with ``R = (k-1)d + 1``; weight ``[C, k]``; bias ``[C]``.

    Returns:
        ``H[t]`` shaped ``[N, C, *]``.
    """
    taps = window[::dilation]
    C = weight.shape[0]
    lead = taps.shape[:3]
    h = torch.einsum("knca,ck->nca", taps.reshape(*lead, -1), weight.to(window.dtype))
    if bias is not None:
        h = h + bias.to(window.dtype).view(1, C, 1)
    return h.view(taps.shape[1:])
