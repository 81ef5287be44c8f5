"""The integer charge and fire as one kernel (``cupy_kernels/integer_charge.cu``).

The same source runs on CUDA tensors through CuPy and on CPU tensors through the host build
(see :mod:`spikingjelly_mulfree.kernels`); it computes exactly what
:func:`~spikingjelly_mulfree.integer.charge.integer_charge` computes, reading each input once
per tap and writing the spikes once.

Example:
    >>> import torch
    >>> q = torch.tensor([1, 2, 3], dtype=torch.int8).view(3, 1, 1, 1)
    >>> shift, sign = torch.tensor([[1, 0]]), torch.tensor([[-1, 1]])
    >>> spikes, h = kernel_fire(q, shift, sign, torch.tensor([0]), 1, torch.int32,
    ...                         want_charge=True)
    >>> h.flatten().tolist(), spikes.flatten().tolist()
    ([1, 0, -1], [1, 1, 0])
"""
from __future__ import annotations

import torch

from .plan import holds_input, input_too_wide

SUFFIX = {torch.int8: "i8", torch.int16: "i16", torch.int32: "i32"}
ACC_SUFFIX = {torch.int32: "a32", torch.int64: "a64"}


def kernel_name(dtype: torch.dtype, accumulator: torch.dtype) -> str:
    """Name of the exported kernel for an input dtype and an accumulator.

    Example:
        >>> kernel_name(torch.int16, torch.int64)
        'integer_fire_i16_a64'
    """
    return f"integer_fire_{SUFFIX[dtype]}_{ACC_SUFFIX[accumulator]}"


def kernel_fire(
    q: torch.Tensor,
    shift: torch.Tensor,
    sign: torch.Tensor,
    threshold: torch.Tensor,
    dilation: int,
    accumulator: torch.dtype,
    first_step: int = 0,
    want_charge: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Spikes (and optionally ``H_int``) of steps ``first_step .. T-1`` of ``q``.

    Args:
        q: ``[T, N, C, S]`` int8/int16/int32 (any strides; a contiguous copy is made if needed).
        shift, sign: ``[C, k]`` from the plan; threshold: ``[C]``.
        dilation: ``d``. accumulator: ``torch.int32`` or ``torch.int64``.
        first_step: first step computed (``T - 1`` for the newest step of a window).
        want_charge: also return ``H_int`` in ``accumulator``.

    Returns:
        ``(spikes [T - first_step, N, C, S] in q.dtype, H_int of the same shape or None)``.

    Raises:
        ValueError: a dilation below 1 or one whose tap offsets overflow the kernel's 32-bit
        step arithmetic; ``2**31`` or more elements per step. ImportError: CUDA tensors
        without CuPy (with the install command). RuntimeError: no host compiler for CPU
        tensors.

    Example (the newest step alone, as an inference step over a window does):
        >>> q = torch.tensor([1, 2, 3], dtype=torch.int8).view(3, 1, 1, 1)
        >>> shift, sign = torch.tensor([[1, 0]]), torch.tensor([[-1, 1]])
        >>> spikes, h = kernel_fire(q, shift, sign, torch.tensor([0]), 1, torch.int32,
        ...                         first_step=2)
        >>> spikes.shape, spikes.flatten().tolist(), h
        (torch.Size([1, 1, 1, 1]), [0], None)
    """
    from ..kernels.ops import check_dilation, check_step_elements

    if q.dtype not in SUFFIX or accumulator not in ACC_SUFFIX or q.dim() != 4:
        raise ValueError(
            f"q: expected [T, N, C, S] int8/int16/int32 with an int32/int64 accumulator, got "
            f"{tuple(q.shape)} {q.dtype} and {accumulator}"
        )
    bits = torch.iinfo(q.dtype).bits
    if not holds_input(accumulator, bits):
        raise ValueError(input_too_wide(accumulator, bits,
                                        "build the plan with accumulator='auto'"))
    check_dilation(dilation, shift.shape[1])
    T, N, C, S = q.shape
    if isinstance(first_step, bool) or not isinstance(first_step, int) or not 0 <= first_step < T:
        raise ValueError(f"first_step: expected an integer in [0, T-1] = [0, {T - 1}], got "
                         f"{first_step!r}")
    check_step_elements(N * C * S, "q")
    spikes, charge = torch.ops.spikingjelly_mulfree.integer_fire(
        q, shift, sign, threshold, dilation, accumulator, first_step, want_charge)
    return spikes, charge if want_charge else None


@torch.library.custom_op("spikingjelly_mulfree::integer_fire", mutates_args=())
def _integer_fire(q: torch.Tensor, shift: torch.Tensor, sign: torch.Tensor,
                  threshold: torch.Tensor, dilation: int, accumulator: torch.dtype,
                  first_step: int, want_charge: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`kernel_fire`'s launch, as a custom op so that torch.compile traces it; without
    ``want_charge`` the charge is an empty tensor."""
    from ..kernels.launch import get_launcher, grid_for

    T, N, C, S = q.shape
    M = N * C * S
    qc = q.contiguous()
    dev = q.device
    shift_i = shift.to(device=dev, dtype=torch.int32).contiguous()
    sign_i = sign.to(device=dev, dtype=torch.int32).contiguous()
    theta = threshold.to(device=dev, dtype=accumulator).contiguous()
    rows = T - first_step
    spikes = torch.empty((T, N, C, S), dtype=q.dtype, device=dev)
    charge = torch.empty((T, N, C, S), dtype=accumulator, device=dev) if want_charge else None
    launcher = get_launcher(dev)
    # GPU: one block row per step for parallelism; host: each thread walks every step, so its
    # columns' channels are found once (enough blocks come from the columns alone).
    grid_rows = min(rows, 65535) if launcher.cols == 1 else 1
    launcher.launch(
        kernel_name(q.dtype, accumulator), grid_for(launcher, M, grid_rows),
        (qc, shift_i, sign_i, theta, spikes, charge, T, M, C, S, shift.shape[1], dilation,
         first_step), dev,
    )
    if charge is None:
        charge = q.new_empty(0, dtype=accumulator)
    elif first_step:
        charge = charge[first_step:].clone()
    # the fake impl's results start their storage (a later step is a copy of a few rows)
    return (spikes[first_step:].clone() if first_step else spikes), charge


@_integer_fire.register_fake
def _(q, shift, sign, threshold, dilation, accumulator, first_step, want_charge):
    rows = (q.shape[0] - first_step, *q.shape[1:])
    return q.new_empty(rows), q.new_empty(rows if want_charge else 0, dtype=accumulator)
