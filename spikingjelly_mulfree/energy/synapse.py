"""Synaptic-layer counts: SpikingJelly's MAC and SynOp counters, taught about pooled spikes.

SpikingJelly's :class:`~spikingjelly.activation_based.op_counter.MACCounter` charges a
multiply-accumulate per weight use when a layer's input is real-valued, and its
:class:`~spikingjelly.activation_based.op_counter.SynOpCounter` charges one accumulate per
weight a *spike* (an input exactly 0 or 1) reaches. An average pool between a neuron layer
and the next synaptic layer (as in the paper's CIFAR networks) makes the input ``j/m``
(``j`` spikes in a window of ``m``), which SpikingJelly would count as dense MACs.

Here such *pooled-spike* inputs (non-negative, every value an integer multiple of ``1/m`` for
some ``m <= MAX_POOL``) are event-driven too: the pool's ``1/m`` is folded into the weights
and each of the ``j`` spikes behind a value triggers one accumulate per weight use, exactly
as if the pool were absent. They cost no MAC. Binary inputs keep SpikingJelly's rules.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from spikingjelly.activation_based.op_counter import MACCounter, SynOpCounter
from spikingjelly.activation_based.op_counter import ac as sj_ac
from spikingjelly.activation_based.op_counter import mac as sj_mac
from spikingjelly.activation_based.op_counter.neuromorphic_memory_access import (
    _spike_conv_weight_uses,
    _spike_conv_weight_uses_from_tensors,
)
from torch import nn

aten = torch.ops.aten
DENSE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
MAX_POOL = 16
_TOL = 1e-4


def _raw():
    """Run ops without re-entering any Python dispatch mode (as SpikingJelly's rules do)."""
    return torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.Python))


def event_scale(x: torch.Tensor, max_pool: int = MAX_POOL) -> int | None:
    """The smallest ``m <= max_pool`` with ``x * m`` a non-negative integer tensor, else ``None``.

    ``1`` means spikes (``{0, 1}``); ``m > 1`` means spikes averaged over windows of ``m``.

    Example:
        >>> import torch
        >>> event_scale(torch.tensor([0.0, 1.0])), event_scale(torch.tensor([0.5, 1.0]))
        (1, 2)
        >>> event_scale(torch.tensor([0.3, -1.0])) is None
        True
    """
    if not torch.is_tensor(x):
        return None
    if x.dtype == torch.bool:
        return 1
    with torch.no_grad(), _raw():
        if not x.is_floating_point():
            return 1 if bool(((x == 0) | (x == 1)).all()) else None
        if x.numel() == 0 or bool((x < 0).any()) or not bool(torch.isfinite(x).all()):
            return None
        xd = x.double()
        for m in range(1, max_pool + 1):
            y = xd * m
            if bool(((y - y.round()).abs() <= _TOL * m).all()):
                return m
    return None


def _counts(x: torch.Tensor, m: int) -> torch.Tensor:
    with torch.no_grad(), _raw():
        return (x.double() * m).round()


def _is_pooled(x: torch.Tensor) -> int | None:
    m = event_scale(x)
    return m if m is not None and m > 1 else None


def _synop_matmul(x: torch.Tensor, y: torch.Tensor, fallback: Callable, args, kwargs, out):
    mx, my = _is_pooled(x), _is_pooled(y)
    if mx is not None:
        return int(_counts(x, mx).sum().item()) * int(y.shape[-1])
    if my is not None:
        return int(_counts(y, my).sum().item()) * int(x.shape[-2])
    return fallback(args, kwargs, out)


def _synop_mm(args, kwargs, out):
    return _synop_matmul(args[0], args[1], sj_ac._spike_mm, args, kwargs, out)


def _synop_addmm(args, kwargs, out):
    return _synop_matmul(args[1], args[2], sj_ac._spike_addmm, args, kwargs, out)


def _synop_convolution(args, kwargs, out):
    x, w = args[0], args[1]
    m = _is_pooled(x)
    if m is None or args[6]:
        return sj_ac._spike_convolution(args, kwargs, out)
    stride, padding, dilation, groups = args[3], args[4], args[5], args[8]
    return _spike_conv_weight_uses_from_tensors(_counts(x, m), w, stride, padding, dilation,
                                                groups)


def _mac_unless_pooled(fallback: Callable, positions: tuple[int, ...]) -> Callable:
    def rule(args, kwargs, out):
        if any(_is_pooled(args[i]) is not None for i in positions):
            return 0
        return fallback(args, kwargs, out)

    return rule


def synaptic_counters(
    ignore_modules: list[type[nn.Module]] | None = None,
) -> tuple[MACCounter, SynOpCounter]:
    """SpikingJelly's MAC and SynOp counters with the pooled-spike rules of this module.

    Args:
        ignore_modules: module types whose ops neither counter sees (neuron layers counted
            elsewhere, BatchNorm fused into the weights, ...).

    Returns:
        ``(mac_counter, synop_counter)`` for a ``DispatchCounterMode``.

    Example:
        >>> import torch
        >>> from spikingjelly.activation_based.op_counter import DispatchCounterMode
        >>> mac, syn = synaptic_counters()
        >>> fc = torch.nn.Linear(4, 3, bias=False)
        >>> with DispatchCounterMode([mac, syn]):
        ...     _ = fc(torch.tensor([[0.5, 0.0, 1.0, 0.5]]))
        >>> mac.get_total(), syn.get_total()
        (0, 12)
    """
    ignore = list(ignore_modules or [])
    mac = MACCounter(
        extra_rules={
            aten.mm.default: _mac_unless_pooled(sj_mac._mac_mm, (0, 1)),
            aten.addmm.default: _mac_unless_pooled(sj_mac._mac_addmm, (1, 2)),
            aten.convolution.default: _mac_unless_pooled(sj_mac._mac_convolution, (0,)),
        },
        extra_ignore_modules=ignore,
    )
    synop = SynOpCounter(
        extra_rules={
            aten.mm.default: _synop_mm,
            aten.addmm.default: _synop_addmm,
            aten.convolution.default: _synop_convolution,
        },
        extra_ignore_modules=ignore,
    )
    return mac, synop


def dense_weight_uses(module: nn.Module, x: torch.Tensor) -> int:
    """Weight uses of a linear / conv layer on ``x`` if every input element were non-zero
    (padding excluded): the AC count at 100 % activity.

    Args:
        module: an ``nn.Linear`` (``x [..., in_features]``) or ``nn.Conv1d/2d/3d``
            (``x [N, C_in, *spatial]``; ``[T, N, C_in, *spatial]`` for a SpikingJelly
            layer in ``step_mode="m"``).
        x: the layer's input.

    Example:
        >>> import torch
        >>> dense_weight_uses(torch.nn.Linear(4, 3), torch.zeros(2, 4))
        24
        >>> dense_weight_uses(torch.nn.Conv1d(1, 1, 3, padding=1), torch.zeros(1, 1, 4))
        10
    """
    if not isinstance(module, DENSE_TYPES):
        raise TypeError(f"module: expected one of {[t.__name__ for t in DENSE_TYPES]}, got "
                        f"{type(module).__name__}")
    if isinstance(module, nn.Linear):
        fits = x.dim() >= 1 and x.shape[-1] == module.in_features
        layout = f"[..., in_features={module.in_features}]"
    else:
        multi = getattr(module, "step_mode", "s") == "m"
        spatial = len(module.kernel_size)
        fits = (x.dim() == spatial + 2 + multi
                and x.shape[-spatial - 1] == module.in_channels)
        layout = (f"[{'T, ' if multi else ''}N, C_in={module.in_channels}, *spatial] "
                  f"({spatial} spatial)")
    if not fits:
        raise ValueError(f"x: expected {layout} for {type(module).__name__}, got "
                         f"{tuple(x.shape)}")
    with torch.no_grad(), _raw():
        if isinstance(module, nn.Linear):
            return int(x.numel()) * int(module.out_features)
        return _spike_conv_weight_uses(module, torch.ones_like(x, dtype=torch.float32))
