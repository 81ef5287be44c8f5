"""One call, one report: per-layer and total operation counts and energy of a model.

:func:`count_energy` runs one inference forward pass (eval mode, no gradients, state reset
before and after) under SpikingJelly's counter modes:

- neuron layers (:data:`~spikingjelly_mulfree.energy.neuron_counter.NEURON_TYPES`):
  MUL / ADD / SHIFT from :class:`~spikingjelly_mulfree.energy.NeuronOpCounter` (backend
  independent);
- synaptic layers (conv, linear, ...): MAC for real-valued inputs and AC for (pooled) spikes
  from SpikingJelly's counters (:func:`~spikingjelly_mulfree.energy.synapse.synaptic_counters`);
  BatchNorm is skipped by default since inference fuses it into the weights.

Energy is ``sum(count * cost)`` with :class:`~spikingjelly_mulfree.energy.EnergyCosts`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based.neuron.base_node import BaseNode
from spikingjelly.activation_based.op_counter import DispatchCounterMode, ModuleCounterMode
from spikingjelly.activation_based.op_counter.base import call_model
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..neuron.checks import positive_int
from .costs import OPS, EnergyCosts
from .neuron_counter import NEURON_TYPES, NeuronOpCounter, _multi_step
from .synapse import DENSE_TYPES, _raw, dense_weight_uses, synaptic_counters


@dataclass
class LayerOps:
    """Operation counts of one layer for the whole counted batch.

    ``kind`` is ``"neuron"`` or ``"synapse"``; ``neurons`` the neurons per sample of a neuron
    layer (features per step); ``firing_rate`` the mean of its output spikes; ``dense`` the
    weight uses of a conv / linear layer had every input been non-zero (so ``ac / dense`` is
    the synaptic activity of a spike-fed layer).

    Example:
        >>> LayerOps("fc", "Linear", "synapse", ac=10).energy_pj(EnergyCosts())
        9.0
    """

    name: str
    type: str
    kind: str
    mul: int = 0
    add: int = 0
    shift: int = 0
    mac: int = 0
    ac: int = 0
    neurons: int = 0
    firing_rate: float | None = None
    dense: int | None = None

    def energy_pj(self, costs: EnergyCosts) -> float:
        """Energy of these counts in pJ."""
        return costs.pj(**{op: getattr(self, op) for op in OPS})


KINDS = ("neuron", "synapse", None)


def _check_kind(kind: object) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS} (None for all layers), got {kind!r}")


@dataclass
class EnergyReport:
    """Counts and energy of one forward pass.

    Layer counts (:class:`LayerOps`) and :meth:`total` are for the whole batch unless asked
    ``per_sample``; :meth:`energy_uj` is per sample unless asked otherwise; :meth:`to_markdown`
    shows everything per sample.

    Example:
        >>> import torch
        >>> from spikingjelly_mulfree import CPSN
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), CPSN(4, k=2))
        >>> rep = count_energy(net, torch.rand(3, 1, 3))
        >>> rep.total("shift"), rep.total("mac")
        (20, 36)
        >>> print(rep.to_markdown().splitlines()[0][:23])
        | layer | type | kind |
    """

    layers: list[LayerOps]
    batch_size: int
    costs: EnergyCosts = field(default_factory=EnergyCosts)
    uncounted: list[str] = field(default_factory=list)

    def total(self, op: str, kind: str | None = None, per_sample: bool = False) -> float:
        """Sum of ``op`` (one of ``mul add shift mac ac``) over the layers of ``kind``
        (``'neuron'``, ``'synapse'`` or ``None`` for all): the whole batch as an ``int``, or
        divided by ``batch_size`` with ``per_sample=True``."""
        if op not in OPS:
            raise ValueError(f"op: expected one of {OPS}, got {op!r}")
        _check_kind(kind)
        n = sum(getattr(r, op) for r in self.layers if kind in (None, r.kind))
        return n / self.batch_size if per_sample else n

    def energy_uj(self, kind: str | None = None, per_sample: bool = True) -> float:
        """Energy in microjoules of the layers of ``kind`` (``'neuron'``, ``'synapse'`` or
        ``None`` for all): per sample by default (as the paper reports it), or the whole batch
        with ``per_sample=False``."""
        _check_kind(kind)
        pj = sum(r.energy_pj(self.costs) for r in self.layers if kind in (None, r.kind))
        return pj / 1e6 / (self.batch_size if per_sample else 1)

    @property
    def neurons(self) -> int:
        """Spiking neurons per sample in the counted neuron layers."""
        return sum(r.neurons for r in self.layers if r.kind == "neuron")

    def dense_synaptic_ops(self, spike_fed_only: bool = True) -> int:
        """Weight uses of the conv / linear layers had every input been non-zero (batch total);
        by default only layers fed by (pooled) spikes, i.e. those without MACs."""
        return sum(r.dense or 0 for r in self.layers
                   if r.kind == "synapse" and not (spike_fed_only and r.mac))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-serialisable)."""
        return {
            "batch_size": self.batch_size, "costs_pj": asdict(self.costs),
            "layers": [asdict(r) for r in self.layers], "uncounted": list(self.uncounted),
            "energy_uj": {k or "total": self.energy_uj(k) for k in ("neuron", "synapse", None)},
        }

    def to_markdown(self) -> str:
        """A markdown table: one row per layer and totals, all per sample; energy in uJ. Neuron
        layers without a counting rule are listed below it and flagged in the totals."""
        n = self.batch_size
        head = ("| layer | type | kind | neurons | firing rate | MUL | SHIFT | ADD | MAC | AC "
                "| energy (uJ) |")
        lines = [head, "|" + "---|" * 11]

        def fmt(v: float) -> str:
            return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"

        def row(name, typ, kind, neurons, rate, counts, uj):
            cells = [name, typ, kind, fmt(neurons) if neurons else "",
                     "" if rate is None else f"{rate:.3f}"]
            cells += [fmt(counts[op] / n) for op in ("mul", "shift", "add", "mac", "ac")]
            cells.append(f"{uj:.4f}")
            return "| " + " | ".join(cells) + " |"

        for r in self.layers:
            lines.append(row(r.name, r.type, r.kind, r.neurons, r.firing_rate,
                             {op: getattr(r, op) for op in OPS},
                             r.energy_pj(self.costs) / n / 1e6))
        missing = f" ({len(self.uncounted)} not counted)" if self.uncounted else ""
        for kind in ("neuron", "synapse", None):
            label = f"**total {kind} layers**" if kind else "**total**"
            label += missing if kind != "synapse" else ""
            neurons = self.neurons if kind != "synapse" else 0
            lines.append(row(label, "", "", neurons, None,
                             {op: self.total(op, kind) for op in OPS}, self.energy_uj(kind)))
        if self.uncounted:
            lines.append("")
            lines.append("Not counted (no rule): " + ", ".join(self.uncounted))
        return "\n".join(lines)


def _leaf_or_neuron(module: nn.Module) -> bool:
    return (isinstance(module, (*NEURON_TYPES, BaseNode))
            or next(module.children(), None) is None)


def _default_batch(model: nn.Module, inputs: Any, seen: set[int]) -> int:
    """Samples in one forward: the batch the neuron layers saw (``seen``: dim 1 of a
    multi-step neuron's ``[T, N, ...]``, dim 0 of a single-step one's ``[N, ...]``), whatever
    the model's input layout; with no neuron, dim 1 of a time-first tensor input (dim 0 for a
    single-step model)."""
    if len(seen) > 1:
        raise ValueError(
            f"batch_size: the neuron layers saw batches of different sizes {sorted(seen)}, so "
            "the samples per forward are unclear; pass batch_size"
        )
    if seen:
        return next(iter(seen))
    if not torch.is_tensor(inputs) or inputs.dim() < 2:
        return 1
    modes = {m.step_mode for m in model.modules()
             if isinstance(getattr(m, "step_mode", None), str)}
    return int(inputs.shape[0] if modes == {"s"} else inputs.shape[1])


def count_energy(
    model: nn.Module,
    inputs: Any,
    costs: EnergyCosts | None = None,
    batch_size: int | None = None,
    fuse_bn: bool = True,
) -> EnergyReport:
    """Count per-layer operations of one inference forward and price them.

    Args:
        model: any SpikingJelly-style network (restored to its train/eval mode afterwards).
        inputs: a tensor (or tuple / dict of arguments) for ``model``.
        costs: energy per operation; default the paper's 45 nm figures.
        batch_size: samples in ``inputs``; default the batch the neurons see (dim 1
            of a multi-step neuron's ``[T, N, ...]`` input, dim 0 of a single-step one's), so
            a model that takes ``[N, C, H, W]`` images and repeats them in time is counted
            right; without neurons, ``inputs.shape[1]`` (time-first), ``inputs.shape[0]``
            when every module with a step mode runs in ``'s'``, or 1 for a tensor of fewer
            than two dims or inputs that are not a tensor. Given for a tensor, it must be one
            of its dimensions.
        fuse_bn: skip BatchNorm layers (inference folds them into the preceding weights).

    Returns:
        An :class:`EnergyReport`.

    Example:
        >>> import torch
        >>> from spikingjelly_mulfree import CPSN
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), CPSN(4, k=2))
        >>> round(count_energy(net, torch.rand(3, 2, 3)).energy_uj("neuron") * 1e6, 2)
        31.4
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module to count, got "
                        f"{type(model).__name__}")
    costs = EnergyCosts() if costs is None else costs
    if not isinstance(costs, EnergyCosts):
        raise TypeError(f"costs: expected an EnergyCosts, got {type(costs).__name__}; pass e.g. "
                        "EnergyCosts(add_pj=0.1) (the fields not given keep the paper's)")
    given = batch_size is not None
    if given:
        batch_size = positive_int("batch_size", batch_size)
        if torch.is_tensor(inputs) and batch_size not in inputs.shape:
            raise ValueError(
                f"batch_size: {batch_size} is no dimension of the input's shape "
                f"{tuple(inputs.shape)}, so per-sample counts would be fractions; pass the "
                f"size of its batch dimension"
            )
    ignore: list[type[nn.Module]] = list(NEURON_TYPES) + [BaseNode]
    if fuse_bn:
        ignore.append(_BatchNorm)
    neuron_counter = NeuronOpCounter()
    mac, synop = synaptic_counters(ignore)

    rates: dict[nn.Module, list[float]] = {}
    sizes: dict[nn.Module, int] = {}
    batches: set[int] = set()

    def observe_batch(module, args, out):
        x, multi = args[0], _multi_step(module)
        if torch.is_tensor(x) and x.dim() >= 2:  # [T, N, ...] or [N, features...]
            batches.add(int(x.shape[int(multi)]))

    def observe(module, args, out):
        observe_batch(module, args, out)
        x = args[0]
        with _raw():
            sizes[module] = int(x[0].numel() if _multi_step(module) else x.numel())
            if torch.is_tensor(out):
                rates.setdefault(module, []).append(float(out.float().mean()))

    dense: dict[nn.Module, int] = {}

    def observe_synapse(module, args, out):
        with _raw():
            dense[module] = dense.get(module, 0) + dense_weight_uses(module, args[0])

    hooks = [m.register_forward_hook(observe) for m in model.modules()
             if isinstance(m, NEURON_TYPES)]
    hooks += [m.register_forward_hook(observe_batch) for m in model.modules()
              if isinstance(m, BaseNode) and not isinstance(m, NEURON_TYPES)]
    hooks += [m.register_forward_hook(observe_synapse) for m in model.modules()
              if isinstance(m, DENSE_TYPES) and not isinstance(m, NEURON_TYPES)]
    was_training = model.training
    model.eval()
    sj_functional.reset_net(model)
    try:
        with torch.no_grad(), ModuleCounterMode([neuron_counter], model=model), \
                DispatchCounterMode([mac, synop]):
            call_model(model, inputs)
    finally:
        for h in hooks:
            h.remove()
        sj_functional.reset_net(model)
        model.train(was_training)

    if not given:
        batch_size = positive_int("batch_size", _default_batch(model, inputs, batches))
    root = type(model).__name__
    neuron_rec, mac_rec, syn_rec = (neuron_counter.get_counts(), mac.get_counts(),
                                    synop.get_counts())
    layers: list[LayerOps] = []
    uncounted: list[str] = []
    for name, module in model.named_modules():
        if not _leaf_or_neuron(module):
            continue
        scope = f"{root}.{name}" if name else root
        if isinstance(module, NEURON_TYPES):
            ops = neuron_rec.get(scope, {})
            r = rates.get(module, [])
            layers.append(LayerOps(
                name or root, type(module).__name__, "neuron", mul=ops.get("mul", 0),
                add=ops.get("add", 0), shift=ops.get("shift", 0),
                neurons=sizes.get(module, 0) // batch_size,
                firing_rate=sum(r) / len(r) if r else None,
            ))
            continue
        if isinstance(module, BaseNode):
            uncounted.append(f"{name or root} ({type(module).__name__})")
            continue
        n_mac = sum(mac_rec.get(scope, {}).values())
        n_ac = sum(syn_rec.get(scope, {}).values())
        if n_mac or n_ac or module in dense:
            layers.append(LayerOps(name or root, type(module).__name__, "synapse",
                                   mac=int(n_mac), ac=int(n_ac), dense=dense.get(module)))
    rest_mac = mac.get_total() - sum(r.mac for r in layers)
    rest_ac = synop.get_total() - sum(r.ac for r in layers)
    if rest_mac or rest_ac:  # ops a container module ran itself (not inside a leaf)
        layers.append(LayerOps("(other ops)", root, "synapse", mac=rest_mac, ac=rest_ac))
    return EnergyReport(layers, batch_size, costs, uncounted)

