"""The paper's networks, built from SpikingJelly multi-step layers with a ``neuron=`` choice.

``python -m spikingjelly_mulfree.models --neuron cpsn psn sliding_psn lif plif`` prints every
network's trainable parameter count at the data set's default ``T`` and order:

==========  ====================  ===========  ===========  ============  ===========  ===========
data set    network                      cpsn          psn   sliding_psn          lif         plif
==========  ====================  ===========  ===========  ============  ===========  ===========
digits      DigitsNet                  74,058       72,042        71,774       71,754       71,758
scifar10    SequentialCIFARNet        531,850      520,810       513,537      513,418      513,425
scifar100   SequentialCIFARNet        554,980      543,940       536,667      536,548      536,555
pcifar10    PixelCIFARNet             403,722    5,944,202       367,422      367,242      367,252
shd         SHDNet                    216,064      253,496       214,022      214,016      214,018
dvs-lip     DVSLipNet              11,265,380   11,388,994    11,249,815   11,249,764   11,249,781
==========  ====================  ===========  ===========  ============  ===========  ===========

CPSN adds ``(k + 2) * C`` parameters per neuron layer of ``C`` channels (``k`` taps per
channel, BN gamma and beta); PSN adds a ``T x T`` matrix and ``T`` biases per layer.
"""
from .blocks import ConvResBlock, LinearResBlock
from .cifar import PixelCIFARNet, SequentialCIFARNet, TimeAvgPool
from .common import configure_dilations, count_neurons, count_parameters
from .digits import DigitsNet
from .dvs_lip import DVSLipNet
from .neurons import NEURONS, SURROGATES, is_spiking_neuron, make_surrogate, neuron_factory
from .registry import NETWORKS, build_model
from .shd import DelayedLinear, SHDNet

__all__ = [
    "NETWORKS", "NEURONS", "SURROGATES", "ConvResBlock", "DVSLipNet", "DelayedLinear",
    "DigitsNet", "LinearResBlock", "PixelCIFARNet", "SHDNet", "SequentialCIFARNet",
    "TimeAvgPool", "build_model", "configure_dilations", "count_neurons", "count_parameters",
    "is_spiking_neuron", "make_surrogate", "neuron_factory",
]
