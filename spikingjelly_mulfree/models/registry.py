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

import inspect

from torch import nn

from ..neuron.cpsn import CPSN
from .neurons import neuron_factory

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
    network = NETWORKS[dataset]
    _check_options(network, kwargs)
    return network(num_classes, **kwargs)


def _keywords(obj: object) -> list[str]:
    return [name for name, p in inspect.signature(obj).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


_SET_PER_NEURON = ("channels", "surrogate_function", "step_mode")
"""CPSN arguments the networks' neuron factory sets for each neuron (``k`` and ``backend``
are the network's and the factory's own options)."""


def _check_options(network: type[nn.Module], options: dict[str, object]) -> None:
    """Name a key neither ``network``, its neuron factory nor, with ``neuron='cpsn'``, the
    neuron takes (before, a misspelt network option was blamed on CPSN)."""
    own = [k for k in _keywords(network) if k != "num_classes"]
    neuron = options.get("neuron", inspect.signature(network).parameters["neuron"].default)
    per_neuron = sorted(set(options) & set(_SET_PER_NEURON) - set(own))
    if per_neuron:
        raise ValueError(f"{per_neuron}: set by {network.__name__} for each of its neurons "
                         "(from its widths, surrogate and alpha, in multi-step mode); drop them")
    takes = set(own) | set(_keywords(neuron_factory)) - {"name"}
    if neuron == "cpsn":
        takes |= set(_keywords(CPSN))
    unknown = sorted(set(options) - takes)
    if unknown:
        more = ("; CPSN's own options (e.g. threshold, mul_free) pass through too"
                if neuron == "cpsn" else f"; neuron={neuron!r} takes no further options")
        raise ValueError(f"{network.__name__} has no option {unknown}; expected one of "
                         f"{own}{more}")
