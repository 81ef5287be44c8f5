"""Neuron-layer MUL / ADD / SHIFT counts as a SpikingJelly ``ModuleCounter``.

SpikingJelly's dispatch counters see the torch ops a neuron happens to run, which differ per
backend (a CuPy kernel shows no aten op at all, a GEMM shows ``T^2`` dense products). This
counter instead reads the module and its input shape in a forward hook and applies the
formulas of :mod:`spikingjelly_mulfree.energy.costs`, so the count is the same whichever
backend ran.

Each forward of a counted neuron records three metrics, ``"mul"``, ``"add"`` and ``"shift"``,
under every scope SpikingJelly's :class:`~spikingjelly.activation_based.op_counter.ModuleCounterMode`
assigns (``"Global"``, the root class name and each dotted parent).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from spikingjelly.activation_based.neuron import PSN, MaskedPSN, SlidingPSN
from spikingjelly.activation_based.op_counter import ModuleCounter
from torch import nn

from ..integer.module import IntegerCPSN
from ..neuron.cpsn import CPSN
from .costs import NeuronOps, masked_psn_ops, psn_ops, sliding_ops, streaming_step_ops

NEURON_TYPES: tuple[type[nn.Module], ...] = (CPSN, IntegerCPSN, PSN, MaskedPSN, SlidingPSN)
_SHIFT_NEURONS = (CPSN, IntegerCPSN)
METRICS = ("mul", "add", "shift")


def _input(args: tuple, kwargs: dict) -> torch.Tensor:
    if args and torch.is_tensor(args[0]):
        return args[0]
    for value in kwargs.values():
        if torch.is_tensor(value):
            return value
    raise ValueError("the neuron was called without a tensor input; cannot count its ops")


def _multi_step(module: nn.Module) -> bool:
    return isinstance(module, PSN) or getattr(module, "step_mode", "s") == "m"


def neuron_layer_ops(module: nn.Module, x: torch.Tensor) -> NeuronOps:
    """Inference ops of one forward of a neuron layer on input ``x``.

    Args:
        module: a :class:`~spikingjelly_mulfree.CPSN` (its integer export
            :class:`~spikingjelly_mulfree.integer.IntegerCPSN` counts the same: shifts, adds
            and a threshold compare per step), or SpikingJelly's ``PSN``,
            ``MaskedPSN`` or ``SlidingPSN``. Read *after* the forward for streaming layers
            (their step index lives in their state).
        x: ``[T, N, ...]`` in multi-step mode, ``[N, ...]`` in single-step mode.

    Returns:
        The total over every neuron of the batch (``N * features`` neurons).

    Example:
        >>> import torch
        >>> from spikingjelly_mulfree import CPSN
        >>> neuron_layer_ops(CPSN(4, k=2), torch.zeros(3, 1, 4))
        NeuronOps(mul=0, add=32, shift=20)
    """
    if not isinstance(module, NEURON_TYPES):
        raise TypeError(
            f"module: expected one of {[t.__name__ for t in NEURON_TYPES]}, got "
            f"{type(module).__name__}"
        )
    if _multi_step(module):
        T, neurons = int(x.shape[0]), int(x[0].numel())
        if isinstance(module, _SHIFT_NEURONS):
            per = sliding_ops(T, module.k, module.dilation,
                              mul_free=getattr(module, "mul_free", True))
        elif isinstance(module, PSN):
            per = psn_ops(T)
        elif isinstance(module, MaskedPSN):
            per = masked_psn_ops(T, module.k, float(module.lambda_))
        else:
            per = sliding_ops(T, module.k)
        return per.scale(neurons)
    neurons = int(x.numel())
    if isinstance(module, _SHIFT_NEURONS):
        return streaming_step_ops(module.k, getattr(module, "mul_free", True)).scale(neurons)
    if isinstance(module, MaskedPSN):
        taps = min(int(module.time_step), module.k)
    else:
        taps = min(len(module.queue), module.k)
    return streaming_step_ops(max(taps, 1), mul_free=False).scale(neurons)


class NeuronOpCounter(ModuleCounter):
    """Counts neuron-layer MUL, ADD and SHIFT operations (inference, per forward).

    Use it inside SpikingJelly's ``ModuleCounterMode``; :func:`~spikingjelly_mulfree.energy.
    count_energy` does that for you together with the synaptic counters.

    Args:
        extra_rules: ``{module_type: fn(module, x) -> NeuronOps}`` for further neuron types.

    Example:
        >>> import torch
        >>> from spikingjelly.activation_based.op_counter import ModuleCounterMode
        >>> from spikingjelly_mulfree import CPSN
        >>> net = torch.nn.Sequential(CPSN(4, k=2))
        >>> counter = NeuronOpCounter()
        >>> with ModuleCounterMode([counter], model=net):
        ...     _ = net(torch.zeros(3, 1, 4))
        >>> counter.get_counts()["Global"]
        {'mul': 0, 'add': 32, 'shift': 20}
    """

    def __init__(self, extra_rules: dict[type[nn.Module], Any] | None = None) -> None:
        super().__init__()
        self._layer_rules: dict[type[nn.Module], Any] = {t: neuron_layer_ops for t in NEURON_TYPES}
        self._layer_rules.update(extra_rules or {})
        self.rules = {("forward", t): self._count for t in self._layer_rules}
        self._pending: NeuronOps | None = None

    def _count(self, module: nn.Module, args: tuple, kwargs: dict, out: Any) -> int:
        rule = next(self._layer_rules[t] for t in type(module).__mro__ if t in self._layer_rules)
        self._pending = rule(module, _input(args, kwargs))
        return self._pending.mul + self._pending.add + self._pending.shift

    def record(self, scope: str, func: Any, value: int) -> None:
        ops = self._pending if self._pending is not None else NeuronOps()
        for name in METRICS:
            self.records[scope][name] += getattr(ops, name)

    def finalize_record(self) -> None:
        """Forget the counted layer's ops once SpikingJelly has recorded them in every scope."""
        self._pending = None

    def reset(self) -> None:
        """Clear every count."""
        self.records = defaultdict(lambda: defaultdict(int))
        self._pending = None

    def get_counts(self) -> dict[str, dict[str, int]]:
        """``{scope: {"mul": .., "add": .., "shift": ..}}``."""
        return {scope: {m: int(v.get(m, 0)) for m in METRICS} for scope, v in self.records.items()}
