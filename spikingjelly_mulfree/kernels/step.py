"""Single-step update on a ring buffer, in place: the kernel counterpart of
:mod:`spikingjelly_mulfree.functional.step`.

The state is :class:`RingState`: a window ``[R, M]`` (``R = (k-1)d + 1``, accumulator type,
zero before the sequence) and the slot the next input goes to. Each :func:`step_fire` writes
the input into that slot, fires on the charge of the newest step and advances the slot, so a
step reads ``k`` rows and writes one — no copy of the window.

Example:
    >>> import torch
    >>> x = torch.randn(6, 2, 3)
    >>> w, b = torch.tensor([[0.5, 1.0]] * 3), torch.zeros(3)
    >>> state = RingState.zeros(x[0], k=2, dilation=1)
    >>> s = torch.stack([step_fire(x[t], state, w, b, 1) for t in range(6)])
    >>> s.shape
    torch.Size([6, 2, 3])
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import ops
from .launch import get_launcher, grid_for


@dataclass
class RingState:
    """Window ``[R, M]`` of the last ``R`` inputs and the slot the next one is written to.

    Attributes:
        window: ``[R, M]`` in the accumulator type, ``R = (k-1)d + 1``, ``M = N*C*S``.
        pos: the row the next input is written to, in ``[0, R)``.

    Example:
        >>> state = RingState.zeros(torch.zeros(2, 3, 4, dtype=torch.float16), k=3, dilation=2)
        >>> state.window.shape, state.window.dtype, state.pos
        (torch.Size([5, 24]), torch.float32, 0)
    """

    window: torch.Tensor
    pos: int = 0

    @classmethod
    def zeros(cls, x: torch.Tensor, k: int, dilation: int) -> "RingState":
        """A fresh, all-zero past for inputs shaped like ``x`` ``[N, C, *]`` (see the class
        example)."""
        R = (k - 1) * dilation + 1
        acc = ops.acc_dtype(x.dtype)
        return cls(torch.zeros(R, x.numel(), dtype=acc, device=x.device))


def _check_buffer(name: str, t: torch.Tensor, shape, dtype: torch.dtype,
                  device: torch.device, fix: str) -> None:
    """A tensor the step kernel writes: exactly this shape, dtype and device, contiguous."""
    if (t.shape != shape or t.dtype != dtype or t.device != device
            or not t.is_contiguous()):
        raise ValueError(
            f"{name}: expected a contiguous {tuple(shape)} {dtype} tensor on {device}, got "
            f"{tuple(t.shape)} {t.dtype} on {t.device}"
            f"{'' if t.is_contiguous() else ' (not contiguous)'}; {fix}"
        )


def step_fire(x: torch.Tensor, state: RingState, weight: torch.Tensor,
              bias: torch.Tensor | None, dilation: int, mul_free: bool = False,
              charge: torch.Tensor | None = None) -> torch.Tensor:
    """Spikes of the current step ``x`` ``[N, C, *]`` (in ``x.dtype``); updates ``state``.

    Args:
        state: from :meth:`RingState.zeros`; modified in place.
        weight: ``[C, k]``; bias: ``[C]`` or ``None``; mul_free: see :func:`.ops.charge_fire`.
        charge: optional ``[N, C, *]`` accumulator-typed tensor that receives ``H``.

    Example:
        >>> x = torch.randn(6, 2, 3)
        >>> w, b = torch.tensor([[0.5, 1.0]] * 3), torch.zeros(3)
        >>> state, h = RingState.zeros(x[0], k=2, dilation=1), torch.empty(2, 3)
        >>> s0 = step_fire(x[0], state, w, b, 1, charge=h)
        >>> torch.equal(h, x[0]), state.pos  # an all-zero past: H = w[:, 1] * x[0]
        (True, 1)
        >>> s = torch.stack([s0] + [step_fire(x[t], state, w, b, 1) for t in range(1, 6)])
        >>> torch.equal(s, ops.charge_fire(x[..., None], w, b, 1)[..., 0])
        True
    """
    if x.dim() < 2 or x.shape[1] != weight.shape[0]:
        raise ValueError(f"x: expected [N, C={weight.shape[0]}, *], got {tuple(x.shape)}")
    C, k = weight.shape
    ops.check_dilation(dilation, k)
    ops.check_step_elements(x.numel())
    R = (k - 1) * dilation + 1
    acc = ops.acc_dtype(x.dtype)
    _check_buffer("state", state.window, (R, x.numel()), acc, x.device,
                  "build it with RingState.zeros")
    if charge is not None:
        _check_buffer("charge", charge, x.shape, acc, x.device,
                      f"pass torch.empty(x.shape, dtype={acc}) or None")
    xc = ops.as_kernel_arg(x, x.dtype)
    S = xc.numel() // (xc.shape[0] * C) if xc.numel() else 1
    w = ops.as_kernel_arg(weight, acc)
    b = None if bias is None else ops.as_kernel_arg(bias, acc)
    out = torch.empty_like(xc)
    launcher = get_launcher(x.device)
    variant = f"{ops.SUFFIX[x.dtype]}_{'shift' if mul_free else 'mul'}"
    launcher.launch(f"cpsn_step_{variant}", grid_for(launcher, xc.numel()),
                    (xc, state.window, w, b, out, charge, xc.numel(), C, S, k,
                     dilation, state.pos), x.device)
    state.pos = (state.pos + 1) % R
    return out
