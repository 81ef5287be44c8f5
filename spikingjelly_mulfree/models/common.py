"""Helpers shared by the networks: dilation set-up, parameter counts, time averaging."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..dilation import set_sawtooth_dilations
from ..neuron.cpsn import CPSN

Dilations = str | Sequence[int] | None


def configure_dilations(net: nn.Module, T: int, dilations: Dilations) -> list[int]:
    """Set the dilation of every CPSN layer of ``net`` (in ``net.modules()`` order).

    Args:
        net: the network.
        T: the sequence length the sawtooth schedule must cover.
        dilations: ``"none"`` or ``None`` (every layer 1), ``"sawtooth"`` (see
            :func:`spikingjelly_mulfree.sawtooth_dilations`) or one integer per CPSN layer.
            ``"none"`` survives :func:`~spikingjelly_mulfree.models.build_model`, which drops
            ``None`` options so that a network's own default applies.

    Returns:
        The dilations assigned; empty when ``net`` has no CPSN layer.

    Example:
        >>> from spikingjelly_mulfree import CPSN
        >>> configure_dilations(nn.Sequential(CPSN(2, k=2), CPSN(2, k=2)), 4, "sawtooth")
        [1, 2]
        >>> configure_dilations(nn.Sequential(CPSN(2, k=2), CPSN(2, k=2)), 4, "none")
        [1, 1]
    """
    layers = [m for m in net.modules() if isinstance(m, CPSN)]
    if not layers:
        return []
    if dilations is None or dilations == "none":
        return set_sawtooth_dilations(net, T, [1] * len(layers))
    if isinstance(dilations, str):
        if dilations != "sawtooth":
            raise ValueError(
                f"dilations: expected 'sawtooth', 'none' (or None) or a list of {len(layers)} "
                f"integers, got {dilations!r}"
            )
        return set_sawtooth_dilations(net, T)
    return set_sawtooth_dilations(net, T, list(dilations))  # each checked by CPSN.dilation


def count_parameters(net: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameter elements; lazy modules must have run once.

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


def count_neurons(net: nn.Module, x: torch.Tensor) -> int:
    """Spiking neurons per sample: the features per step of every spiking layer's output on
    ``x [T, N, ...]`` (one forward pass in eval mode, state reset before and after).

    Example:
        >>> from spikingjelly_mulfree.models import SequentialCIFARNet
        >>> count_neurons(SequentialCIFARNet(10), torch.zeros(32, 1, 3, 32))
        18688
    """
    from spikingjelly.activation_based import functional as sj_functional

    from .neurons import is_spiking_neuron

    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: sizes.append(out[0, 0].numel()))
             for m in net.modules() if is_spiking_neuron(m)]
    was_training = net.training
    net.eval()
    try:
        sj_functional.reset_net(net)
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
        sj_functional.reset_net(net)
        net.train(was_training)
    return sum(sizes)
