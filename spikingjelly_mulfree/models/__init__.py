"""The paper's networks, built from SpikingJelly multi-step layers with a ``neuron=`` choice.

``python -m spikingjelly_mulfree.models`` prints every network's parameter count.
"""
from .cifar import SequentialCIFARNet
from .common import configure_dilations, count_neurons, count_parameters
from .neurons import NEURONS, SURROGATES, make_surrogate, neuron_factory

__all__ = [
    "NEURONS", "SURROGATES", "SequentialCIFARNet", "configure_dilations",
    "count_neurons", "count_parameters", "make_surrogate", "neuron_factory",
]
