"""Which tensors a CPSN has, by threshold mode, and a fast way to read them.

A neuron's forward reads its taps and threshold tensors several times (shape checks, whether a
backward follows, the autoselect key); ``nn.Module``'s attribute lookup, behind SpikingJelly's
memory lookup, costs about a microsecond each, a name the module lacks a raised
``AttributeError`` on top, so they are read from the module's tables instead.

Example:
    >>> from spikingjelly_mulfree import CPSN
    >>> sn = CPSN(4, k=2, threshold="learnable")
    >>> [(n, tuple(t.shape)) for n, t in own_tensors(sn).items()]
    [('weight', (4, 2)), ('v_threshold', (4,))]
    >>> [t is sn.weight for t in trained_tensors(sn)]
    [True, False]
"""
from __future__ import annotations

import torch

from . import checks

TRAINED = ("weight", "bn_weight", "bn_bias", "v_threshold")
"""The neuron's trained tensors (taps, and the threshold's parameters where it has them)."""
PER_CHANNEL = ("bn_weight", "bn_bias", "v_threshold", "running_mean", "running_var")
"""Every per-channel tensor a CPSN may have, whatever its threshold."""
OWN = {"bn": ("weight", "bn_weight", "bn_bias", "running_mean", "running_var"),
       "learnable": ("weight", "v_threshold"), "fixed": ("weight",)}
"""Per threshold mode, the taps and the per-channel tensors a neuron of that mode has."""


def own(module: torch.nn.Module, name: str) -> torch.Tensor:
    """``getattr(module, name)`` from its parameter and buffer tables, else its plain
    attributes (where an ``nn.DataParallel`` replica holds them)."""
    t = module._parameters.get(name)
    if t is None:
        t = module._buffers.get(name)
    return module.__dict__[name] if t is None else t


def own_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The taps and every per-channel tensor of ``module`` (a CPSN), by name."""
    return {n: own(module, n) for n in OWN[module.threshold_mode]}


def check_shapes(module: torch.nn.Module) -> None:
    """Every tensor of :func:`own_tensors` in the shape ``module`` was built with (a user may
    have reassigned one): see :func:`~.checks.own_shapes`."""
    checks.own_shapes(own_tensors(module), module.channels, module.k)


def trained_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    """The taps and the threshold's parameters: in a data-parallel replica plain tensors (its
    ``parameters()`` is empty), whose gradients flow back to the original's."""
    return [own(module, n) for n in OWN[module.threshold_mode] if n in TRAINED]
