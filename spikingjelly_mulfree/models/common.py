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
    if dilations is None or (isinstance(dilations, str) and dilations == "none"):
        return set_sawtooth_dilations(net, T, [1] * len(layers))
    if isinstance(dilations, str):
        if dilations != "sawtooth":
            raise ValueError(
                f"dilations: expected 'sawtooth', 'none' (or None) or a list of {len(layers)} "
                f"integers, got {dilations!r}"
            )
        return set_sawtooth_dilations(net, T)
    return set_sawtooth_dilations(net, T, list(dilations))  # each checked by CPSN.dilation


def wrong_length(x: torch.Tensor, fixed_T: int | None) -> bool:
    """Whether ``x`` (time first) has another length than the ``fixed_T`` steps a network with
    PSN neurons (a ``[T, T]`` weight) was built for; ``None``: any length fits.

    Example:
        >>> wrong_length(torch.zeros(8, 2), 4), wrong_length(torch.zeros(8, 2), None)
        (True, False)
    """
    return fixed_T is not None and x.shape[0] != fixed_T


def input_error(x: torch.Tensor, layout: str, options: str,
                fixed_T: int | None = None) -> ValueError:
    """The error for an input ``x`` that the network was not built for.

    Args:
        x: the refused input.
        layout: the shape the network takes, with ``{T}`` for time, e.g. ``"[{T}, N, 3, 32]"``.
        options: the constructor options that size the network for other data.
        fixed_T: the one sequence length the network takes (PSN neurons), else ``None``: the
            layout then shows ``T`` and the fix names ``T=`` too.

    Example:
        >>> print(input_error(torch.zeros(8, 2, 7), "[{T}, N, 8]", "in_features=", 4))
        x: expected [4, N, 8], got (8, 2, 7); ... build one with in_features= and T= matching ...
    """
    shape = layout.format(T=fixed_T or "T")
    fix = options + (" and T=" if fixed_T else "")
    return ValueError(f"x: expected {shape}, got {tuple(x.shape)}; the network was built for "
                      f"that input: build one with {fix} matching the data")


def check_widths(widths: Sequence[int], count: int, what: str) -> None:
    """Raise unless ``widths`` holds ``count`` channel counts >= 1 (``what`` names them).

    Example:
        >>> check_widths((8, 16), 2, "before and after the time pooling")
    """
    if (not isinstance(widths, (tuple, list)) or len(widths) != count
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1
                       for c in widths)):
        raise ValueError(f"widths: expected {count} channel counts >= 1 ({what}), "
                         f"got {widths!r}")


def check_num_classes(num_classes: int) -> None:
    """Raise unless ``num_classes`` is an integer >= 1 (the size of the readout).

    Every network and :func:`~spikingjelly_mulfree.models.build_model` call it, so both give
    the same message.

    Example:
        >>> check_num_classes(10)
        >>> check_num_classes(0)
        Traceback (most recent call last):
        ...
        ValueError: num_classes: expected an integer >= 1 (the readout's width), got 0; ...
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: expected an integer >= 1 (the readout's width), got "
                         f"{num_classes!r}; pass the number of classes of the data set "
                         f"(e.g. 10 for CIFAR-10)")


def check_dropout(dropout: float) -> None:
    """Raise unless ``dropout`` is a probability in ``[0, 1)``.

    Example:
        >>> check_dropout(0.5)
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")


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
