"""Operation and energy counts of spiking networks with parallel neurons, on top of
SpikingJelly's ``op_counter``.

- :func:`count_energy` — one forward of a model on an example input gives an
  :class:`EnergyReport`: per-layer and total MUL / SHIFT / ADD (neuron layers) and MAC / AC
  (synaptic layers) with their 45 nm energy (:class:`EnergyCosts`).
- :class:`NeuronOpCounter` — the neuron-layer counts as a SpikingJelly ``ModuleCounter``
  (CPSN, PSN, MaskedPSN, SlidingPSN), from the module and input shape, whichever backend ran.
- :mod:`~spikingjelly_mulfree.energy.costs` — the per-neuron formulas.
- :mod:`~spikingjelly_mulfree.energy.table6` and ``python -m spikingjelly_mulfree.energy`` —
  the paper's Table 6.

Example:
    >>> import torch
    >>> from spikingjelly_mulfree import CPSN
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), CPSN(4, k=2))
    >>> count_energy(net, torch.rand(3, 1, 3)).total("shift")
    20
"""
from .costs import (
    EnergyCosts, NeuronOps, masked_psn_ops, psn_ops, sliding_ops, streaming_step_ops, tap_count,
)
from .neuron_counter import NEURON_TYPES, NeuronOpCounter, neuron_layer_ops
from .report import EnergyReport, LayerOps, count_energy
from .synapse import dense_weight_uses, event_scale, synaptic_counters
from .table6 import PAPER_TABLE6, PaperFigures, matches_paper, table6_markdown, table6_reports

__all__ = [
    "NEURON_TYPES", "PAPER_TABLE6", "EnergyCosts", "EnergyReport", "LayerOps", "NeuronOpCounter",
    "NeuronOps", "PaperFigures", "count_energy", "dense_weight_uses", "event_scale",
    "masked_psn_ops", "matches_paper", "neuron_layer_ops", "psn_ops", "sliding_ops",
    "streaming_step_ops", "synaptic_counters", "table6_markdown", "table6_reports", "tap_count",
]
