"""Sawtooth dilations across a stack of CPSN layers.

A stack of ``L`` layers of order ``k`` with dilations ``d_l`` sees ``1 + (k-1) * sum(d_l)``
steps. Growing ``d`` layer by layer lets small ``k`` cover a long sequence; restarting the
ramp (a sawtooth) avoids the gaps of purely exponential dilations.

Our reading of the paper (it gives only the example k=2, dilations 1, 2, 3): layer ``l``
(from 0) gets ``d_l = 1 + (l mod p)``, where the period ``p`` is the smallest integer with
``1 + (k-1) p (p+1) / 2 >= T``, capped at the number of layers.
"""
from __future__ import annotations

import numbers

import torch


def _positive_ints(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")


def sawtooth_period(num_layers: int, k: int, T: int) -> int:
    """Smallest ``p`` with ``1 + (k-1) p (p+1)/2 >= T``, capped at ``num_layers`` (and >= 1).

    Args:
        num_layers: number of CPSN layers (>= 1); k: their order (>= 1); T: sequence length (>= 1).

    Example:
        >>> sawtooth_period(8, 2, 7), sawtooth_period(2, 2, 7), sawtooth_period(8, 1, 100)
        (3, 2, 1)
    """
    _positive_ints(num_layers=num_layers, k=k, T=T)
    if k == 1:
        return 1
    p = 1
    while p < num_layers and 1 + (k - 1) * p * (p + 1) // 2 < T:
        p += 1
    return p


def sawtooth_dilations(num_layers: int, k: int, T: int) -> list[int]:
    """Dilations ``1 + (l mod p)`` for ``l = 0 .. num_layers - 1``.

    Args:
        num_layers: number of CPSN layers (>= 1); k: their order (>= 1); T: sequence length (>= 1).

    Example:
        >>> sawtooth_dilations(3, 2, 7)
        [1, 2, 3]
        >>> sawtooth_dilations(5, 2, 4)
        [1, 2, 1, 2, 1]
    """
    p = sawtooth_period(num_layers, k, T)
    return [1 + (layer % p) for layer in range(num_layers)]


def stack_receptive_field(k: int, dilations: list[int]) -> int:
    """Steps seen by a stack: ``1 + (k-1) * sum(dilations)``.

    Example:
        >>> stack_receptive_field(2, [1, 2, 3])
        7
    """
    _positive_ints(k=k)
    for i, d in enumerate(dilations):
        _positive_ints(**{f"dilations[{i}]": d})
    return 1 + (k - 1) * sum(dilations)


def set_sawtooth_dilations(
    net: torch.nn.Module, T: int, dilations: list[int] | None = None
) -> list[int]:
    """Assign sawtooth dilations to the CPSN layers of ``net`` in ``net.modules()`` order.

    All CPSN layers must share one ``k`` unless ``dilations`` is given explicitly.

    Returns:
        The list of dilations assigned.

    Example:
        >>> from spikingjelly_mulfree import CPSN
        >>> net = torch.nn.Sequential(CPSN(4, k=2), CPSN(4, k=2), CPSN(4, k=2))
        >>> set_sawtooth_dilations(net, T=7)
        [1, 2, 3]
    """
    from .neuron.cpsn import CPSN

    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"net: expected a torch.nn.Module containing CPSN layers, got "
                        f"{type(net).__name__}")
    layers = [m for m in net.modules() if isinstance(m, CPSN)]
    if not layers:
        raise ValueError(f"net: expected a module containing CPSN layers, found none in "
                         f"{type(net).__name__}")
    if dilations is None:
        ks = {m.k for m in layers}
        if len(ks) != 1:
            raise ValueError(
                f"net: its CPSN layers have different orders {sorted(ks)}; pass dilations=[...] "
                "explicitly"
            )
        dilations = sawtooth_dilations(len(layers), ks.pop(), T)
    try:
        dilations = list(dilations)
    except TypeError:
        raise TypeError(f"dilations: expected a list of integers >= 1 (one per CPSN layer), "
                        f"got {dilations!r}") from None
    if len(dilations) != len(layers):
        raise ValueError(
            f"dilations: expected {len(layers)} values (one per CPSN layer), got {len(dilations)}"
        )
    for layer, d in zip(layers, dilations):
        layer.dilation = d
    return dilations
