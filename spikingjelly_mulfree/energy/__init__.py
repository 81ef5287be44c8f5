"""Op and energy counting for spiking networks with parallel neurons."""
from .costs import EnergyCosts, NeuronOps, masked_psn_ops, psn_ops, sliding_ops, tap_count
from .neuron_counter import NeuronOpCounter, neuron_layer_ops
from .report import EnergyReport, LayerOps, count_energy
from .synapse import event_scale, synaptic_counters
