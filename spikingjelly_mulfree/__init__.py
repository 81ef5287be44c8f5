"""spikingjelly-mulfree: the multiplication-free channel-wise parallel spiking neuron.

Importing this package also registers :class:`CPSN` as
``spikingjelly.activation_based.neuron.CPSN``.
"""
from spikingjelly.activation_based import neuron as _sj_neuron

from .dilation import sawtooth_dilations, set_sawtooth_dilations, stack_receptive_field
from .neuron import CPSN
from .surrogate import Rational

__version__ = "0.1.0"

_sj_neuron.CPSN = CPSN

__all__ = [
    "CPSN", "Rational", "sawtooth_dilations", "set_sawtooth_dilations", "stack_receptive_field",
]
