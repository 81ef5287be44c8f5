"""Which network each data set trains, and one call to build it.

======================  ============================  ==========================
data set                 network                        defaults (neuron options)
======================  ============================  ==========================
``digits``               :class:`DigitsNet`             k=4, sawtooth, ATan 2
``scifar10/100``         :class:`SequentialCIFARNet`    k=16, no dilation, ATan 2
``pcifar10``             :class:`PixelCIFARNet`         k=17, sawtooth, ATan 2
``shd``                  :class:`SHDNet`                k=2, sawtooth, ATan 5
``dvs-lip``              :class:`DVSLipNet`             k=2, sawtooth, rational 10
======================  ============================  ==========================
"""
from __future__ import annotations

from torch import nn

from .cifar import PixelCIFARNet, SequentialCIFARNet
from .digits import DigitsNet
from .dvs_lip import DVSLipNet
from .shd import SHDNet

NETWORKS: dict[str, type[nn.Module]] = {
    "digits": DigitsNet,
    "scifar10": SequentialCIFARNet,
    "scifar100": SequentialCIFARNet,
    "pcifar10": PixelCIFARNet,
    "shd": SHDNet,
    "dvs-lip": DVSLipNet,
}


def build_model(dataset: str, num_classes: int, **options: object) -> nn.Module:
    """The paper's network for ``dataset``; ``options`` go to its constructor (``neuron``,
    ``k``, ``dilations``, ``surrogate``, ``alpha``, ``T``, sizes...). ``None`` values are
    dropped so the network's own defaults apply.

    Example:
        >>> build_model("digits", 10, neuron="lif", k=None).__class__.__name__
        'DigitsNet'
    """
    if dataset not in NETWORKS:
        raise ValueError(f"dataset: expected one of {sorted(NETWORKS)}, got {dataset!r}")
    kwargs = {key: value for key, value in options.items() if value is not None}
    return NETWORKS[dataset](num_classes, **kwargs)
