"""Batch collation for time-first samples.

Every loader in this package yields ``(x, label)`` with ``x`` of shape ``[T, *features]``
(time first, as SpikingJelly multi-step modules expect). A batch stacks samples along a new
dimension 1: ``[T, N, *features]``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def _check_items(items: Sequence[tuple[torch.Tensor, int]]) -> None:
    if len(items) == 0:
        raise ValueError("items: expected at least one (x, label) pair, got an empty batch")
    features = items[0][0].shape[1:]
    for i, (x, _) in enumerate(items):
        if x.dim() < 1 or x.shape[1:] != features:
            raise ValueError(
                f"items[{i}]: expected x of shape [T, {', '.join(map(str, features))}] like "
                f"items[0], got {tuple(x.shape)}; every sample must share its feature shape"
            )


def stack_time_first(
    items: Sequence[tuple[torch.Tensor, int]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack equal-length samples into a time-first batch.

    Args:
        items: ``N`` pairs ``(x [T, *features], label)``, all with the same ``T``.

    Returns:
        ``(x [T, N, *features], labels [N] int64)``.

    Example:
        >>> import torch
        >>> x, y = stack_time_first([(torch.zeros(8, 8), 1), (torch.ones(8, 8), 3)])
        >>> tuple(x.shape), y.tolist()
        ((8, 2, 8), [1, 3])
    """
    _check_items(items)
    lengths = {x.shape[0] for x, _ in items}
    if len(lengths) != 1:
        raise ValueError(
            f"items: expected equal sequence lengths, got T in {sorted(lengths)}; use "
            "pad_time_first for variable-length data"
        )
    x = torch.stack([x for x, _ in items], dim=1)
    labels = torch.as_tensor([int(y) for _, y in items], dtype=torch.long)
    return x, labels


def pad_time_first(
    items: Sequence[tuple[torch.Tensor, int]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad variable-length samples at the end to the longest ``T`` and stack them.

    Args:
        items: ``N`` pairs ``(x [T_i, *features], label)``.

    Returns:
        ``(x [max T_i, N, *features], labels [N] int64)``; steps past ``T_i`` are zero.

    Example:
        >>> import torch
        >>> x, y = pad_time_first([(torch.ones(3, 2), 0), (torch.ones(5, 2), 1)])
        >>> tuple(x.shape), x[3:, 0].abs().sum().item()
        ((5, 2, 2), 0.0)
    """
    _check_items(items)
    longest = max(x.shape[0] for x, _ in items)
    first = items[0][0]
    out = first.new_zeros((longest, len(items), *first.shape[1:]))
    for n, (x, _) in enumerate(items):
        out[: x.shape[0], n] = x
    labels = torch.as_tensor([int(y) for _, y in items], dtype=torch.long)
    return out, labels
