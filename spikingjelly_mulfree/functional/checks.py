"""Argument checks of the public functional entry points: a wrong shape or dilation is refused
at the entry with the argument's name, instead of broadcasting silently or failing deep in torch.

The module's internal paths call the unchecked implementations (they check once, in the
module); the checks here are plain Python on shapes, cheap next to the tensor work.
"""
from __future__ import annotations

import numbers

import torch


def first_index(mask: torch.Tensor) -> tuple[int, ...]:
    """Index of the first True entry of ``mask`` (one known to hold one), for an error message.

    Example:
        >>> first_index(torch.tensor([[False, False], [False, True]]))
        (1, 1)
    """
    return tuple(int(i) for i in mask.nonzero()[0])


def check_dilation(dilation: int) -> None:
    """Raise a ``ValueError`` unless ``dilation`` is an integer ``>= 1``.

    Example:
        >>> check_dilation(0)
        Traceback (most recent call last):
        ...
        ValueError: dilation: expected an integer >= 1, got 0
    """
    if (isinstance(dilation, bool) or not isinstance(dilation, numbers.Integral)
            or dilation < 1):
        raise ValueError(f"dilation: expected an integer >= 1, got {dilation!r}")


def check_taps(
    name: str, x: torch.Tensor, layout: str, weight: torch.Tensor, bias: torch.Tensor | None,
    dilation: int, exact_dims: bool,
) -> None:
    """Check ``weight [C, k]``, ``bias [C]`` or ``None``, ``dilation >= 1`` and that ``x``
    (called ``name``, laid out as ``layout``) has ``C`` channels at dim 2 (and exactly 4 dims
    when ``exact_dims``, else at least 3).

    Example:
        >>> check_taps("x", torch.zeros(5, 2, 1, 1), "[T, N, C, S]", torch.ones(3, 2), None, 1,
        ...            True)
        Traceback (most recent call last):
        ...
        ValueError: x: expected [T, N, C, S] with C=3 channels at dim 2 ... got shape (5, 2, 1, 1)
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight: expected [C, k] taps (channels x taps), got {got}")
    C = weight.shape[0]
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor {layout}, got {type(x).__name__}")
    dims_ok = x.dim() == 4 if exact_dims else x.dim() >= 3
    if not dims_ok or x.shape[2] != C:
        raise ValueError(f"{name}: expected {layout} with C={C} channels at dim 2 like weight "
                         f"[C, k], got shape {tuple(x.shape)}")
    if bias is not None and tuple(bias.shape) != (C,):
        raise ValueError(f"bias: expected [C={C}] like weight [C, k], or None, got shape "
                         f"{tuple(bias.shape)}")
    check_dilation(dilation)


def check_window_length(
    name: str, window: torch.Tensor, k: int, dilation: int, fix: str
) -> None:
    """Raise a ``ValueError`` unless ``window`` holds ``R = (k-1)d + 1`` steps (dim 0); the
    message ends with ``fix`` (``{R}`` in it becomes the length).

    Example:
        >>> check_window_length("window", torch.zeros(4, 1, 1), 2, 2,
        ...                     "build it with push_window(..., length={R})")
        Traceback (most recent call last):
        ...
        ValueError: window: expected R = (k-1)*dilation + 1 = 3 steps ... got 4 (shape (4, 1, 1)); ...
    """
    R = (k - 1) * dilation + 1
    if window.shape[0] != R:
        raise ValueError(
            f"{name}: expected R = (k-1)*dilation + 1 = {R} steps at dim 0 for k={k}, "
            f"dilation={dilation}, got {window.shape[0]} (shape {tuple(window.shape)}); "
            + fix.format(R=R)
        )
