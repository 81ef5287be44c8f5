"""One factory for every spiking neuron the networks can use.

``neuron_factory(name, T=..., k=..., surrogate=...)`` returns ``make(channels) -> nn.Module``:
a fresh multi-step neuron (input ``[T, N, C, *]``, spikes of the same shape) each call, with
its own surrogate object (never shared between layers).

========================  =============================================================
``name``                  module
========================  =============================================================
``"cpsn"``                :class:`spikingjelly_mulfree.CPSN` (order ``k``, BN threshold)
``"psn"``                 SpikingJelly ``PSN(T)`` (a full ``T x T`` weight matrix)
``"sliding_psn"``         SpikingJelly ``SlidingPSN(k, exp_init=True)``
``"lif"``                 SpikingJelly ``LIFNode(tau=2, detach_reset=True)``
``"plif"``                SpikingJelly ``ParametricLIFNode(init_tau=2, detach_reset=True)``
========================  =============================================================
"""
from __future__ import annotations

from collections.abc import Callable

from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate
from torch import nn

from ..neuron.cpsn import CPSN
from ..surrogate import Rational, check_alpha

NEURONS = ("cpsn", "psn", "sliding_psn", "lif", "plif")
SURROGATES = ("atan", "sigmoid", "rational")
DEFAULT_ALPHAS = {"atan": 2.0, "sigmoid": 4.0, "rational": 10.0}

NeuronFactory = Callable[[int], nn.Module]


def check_surrogate(name: str, alpha: float | None = None) -> None:
    """Raise unless ``name`` is one of :data:`SURROGATES` and ``alpha`` is ``None`` or a finite
    number > 0 (a one-element tensor counts as its value).

    An alpha of 0 makes every surrogate gradient 0, a negative one flips its sign, and an
    infinite or NaN one makes it NaN: none of them trains, so they are refused here rather than
    at the first backward pass.

    Example:
        >>> check_surrogate("sigmoid", 4)
        >>> check_surrogate("atan", 0.0)
        Traceback (most recent call last):
        ...
        ValueError: alpha: expected a finite number > 0 (the sharpness of the 'atan' ...
    """
    if name not in SURROGATES:
        raise ValueError(f"surrogate: expected one of {SURROGATES}, got {name!r}")
    if alpha is None:
        return
    check_alpha(alpha, f"the sharpness of the {name!r} surrogate gradient",
                f"; pass a positive number, or None for its default {DEFAULT_ALPHAS[name]}")


def make_surrogate(name: str = "atan", alpha: float | None = None) -> nn.Module:
    """A fresh surrogate-gradient function (arguments checked by :func:`check_surrogate`).

    Args:
        name: ``"atan"`` (default alpha 2), ``"sigmoid"`` (alpha 4) or ``"rational"``
            (``1/(1+alpha x^2)``, alpha 10).
        alpha: sharpness, a finite number > 0; ``None`` takes the default of ``name``.

    Example:
        >>> type(make_surrogate("atan", 5.0)).__name__
        'ATan'
        >>> make_surrogate("atan", alpha="x")
        Traceback (most recent call last):
        ...
        ValueError: alpha: expected a finite number > 0 (the sharpness of the 'atan' ...
    """
    check_surrogate(name, alpha)
    if name == "atan":
        return sj_surrogate.ATan() if alpha is None else sj_surrogate.ATan(alpha=alpha)
    if name == "sigmoid":
        return sj_surrogate.Sigmoid() if alpha is None else sj_surrogate.Sigmoid(alpha=alpha)
    return Rational() if alpha is None else Rational(alpha=alpha)


def check_neuron(name: str) -> str:
    """Return ``name`` or raise a ``ValueError`` listing :data:`NEURONS`."""
    if name not in NEURONS:
        raise ValueError(f"neuron: expected one of {NEURONS}, got {name!r}")
    return name


def neuron_factory(
    name: str = "cpsn",
    T: int | None = None,
    k: int = 4,
    surrogate: str = "atan",
    alpha: float | None = None,
    backend: str = "torch",
    **cpsn_options: object,
) -> NeuronFactory:
    """Build ``make(channels)`` returning a multi-step spiking neuron.

    Args:
        name: one of :data:`NEURONS`.
        T: sequence length at that layer; required by ``"psn"`` (its weight is ``[T, T]``).
        k: order of ``"cpsn"`` and ``"sliding_psn"``.
        surrogate, alpha: see :func:`make_surrogate`.
        backend: CPSN compute backend.
        **cpsn_options: further :class:`~spikingjelly_mulfree.CPSN` arguments (``mul_free``,
            ``threshold``, ``init``, ...); rejected for other neurons.

    Example:
        >>> import torch
        >>> make = neuron_factory("cpsn", k=2)
        >>> make(4)(torch.randn(8, 3, 4)).shape
        torch.Size([8, 3, 4])
    """
    check_neuron(name)
    check_surrogate(surrogate, alpha)
    if cpsn_options and name != "cpsn":
        raise ValueError(
            f"cpsn_options: {sorted(cpsn_options)} only apply to neuron='cpsn', got neuron={name!r}"
        )
    if name == "psn" and (T is None or T < 1):
        raise ValueError(f"T: neuron='psn' needs the sequence length T >= 1, got {T!r}")

    def make(channels: int) -> nn.Module:
        sg = make_surrogate(surrogate, alpha)
        if name == "cpsn":
            return CPSN(channels, k=k, surrogate_function=sg, step_mode="m", backend=backend,
                        **cpsn_options)
        if name == "psn":
            return sj_neuron.PSN(T=T, surrogate_function=sg)
        if name == "sliding_psn":
            return sj_neuron.SlidingPSN(k=k, exp_init=True, surrogate_function=sg, step_mode="m")
        if name == "lif":
            return sj_neuron.LIFNode(tau=2.0, surrogate_function=sg, detach_reset=True,
                                     step_mode="m")
        return sj_neuron.ParametricLIFNode(init_tau=2.0, surrogate_function=sg,
                                           detach_reset=True, step_mode="m")

    return make


def is_spiking_neuron(module: nn.Module) -> bool:
    """``True`` for the spiking layers :func:`neuron_factory` builds (not the readouts).

    Example:
        >>> is_spiking_neuron(neuron_factory("lif")(4)), is_spiking_neuron(nn.Linear(2, 2))
        (True, False)
    """
    return isinstance(module, (CPSN, sj_neuron.PSN, sj_neuron.SlidingPSN, sj_neuron.BaseNode))
