r"""The rational surrogate gradient the paper uses on DVS-Lip, as a SpikingJelly surrogate.

.. math::

    g'(x) = \frac{1}{1 + \alpha x^2}, \qquad
    g(x) = \frac{1}{2} + \frac{\arctan(\sqrt{\alpha}\, x)}{\sqrt{\alpha}}

``g'`` peaks at 1 for ``x = 0`` (the paper's form, not normalised to unit area). ``g`` is its
primitive, used only when ``spiking=False``; for ``alpha = 10`` it runs from 0.003 to 0.997.
"""
from __future__ import annotations

import math
import numbers

import torch
from spikingjelly.activation_based import surrogate as sj_surrogate


def check_alpha(alpha: object, meaning: str, fix: str = "") -> None:
    """Raise ``ValueError`` unless ``alpha`` is a finite number > 0 (a one-element tensor counts
    as its value; ``True`` does not count as 1): an alpha of 0 makes a surrogate gradient 0, a
    negative one flips its sign and an infinite or NaN one makes it NaN.

    Args:
        alpha: the value to check. meaning: what alpha is, for the message. fix: appended to it.

    Example:
        >>> check_alpha(10.0, "a sharpness")
        >>> check_alpha(True, "a sharpness")
        Traceback (most recent call last):
        ...
        ValueError: alpha: expected a finite number > 0 (a sharpness), got True
    """
    value = alpha.item() if isinstance(alpha, torch.Tensor) and alpha.numel() == 1 else alpha
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not (math.isfinite(value) and value > 0)):
        raise ValueError(f"alpha: expected a finite number > 0 ({meaning}), got {alpha!r}{fix}")


def rational_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``1 / (1 + alpha x^2)``, the surrogate derivative, elementwise.

    Args:
        x: the charge minus the threshold, any shape; alpha: sharpness, ``> 0``.

    Returns:
        ``g'(x)`` shaped like ``x``.

    Example:
        >>> [round(g, 4) for g in rational_grad(torch.tensor([-1.0, 0.0, 3.0]), 1.0).tolist()]
        [0.5, 1.0, 0.1]
    """
    return 1.0 / (1.0 + alpha * x * x)


class _rational(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        if x.requires_grad:
            ctx.save_for_backward(x)
            ctx.alpha = alpha
        return sj_surrogate.heaviside(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * rational_grad(x, ctx.alpha), None


class Rational(sj_surrogate.SurrogateFunctionBase):
    """Heaviside forward, ``1/(1 + alpha x^2)`` backward (paper: ``alpha = 10`` on DVS-Lip).

    Args:
        alpha: sharpness, ``> 0``. spiking: as every SpikingJelly surrogate.

    Example:
        >>> x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        >>> s = Rational(alpha=10.0)(x); s.sum().backward()
        >>> s.tolist(), [round(g, 4) for g in x.grad.tolist()]
        ([0.0, 1.0, 1.0], [0.0909, 1.0, 0.0244])
    """

    def __init__(self, alpha: float = 10.0, spiking: bool = True):
        check_alpha(alpha, "the paper uses 10 on DVS-Lip")
        super().__init__(spiking=spiking, alpha=alpha)

    @staticmethod
    def spiking_function(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return _rational.apply(x, alpha)

    @staticmethod
    def primitive_function(x: torch.Tensor, alpha: float) -> torch.Tensor:
        r = math.sqrt(alpha)
        return torch.atan(r * x) / r + 0.5

    @staticmethod
    def backward(grad_output: torch.Tensor, x: torch.Tensor, alpha: float) -> torch.Tensor:
        return grad_output * rational_grad(x, alpha)


# Surrogates whose spiking-mode forward is exactly ``Heaviside(x) = (x >= 0)``; checked class by
# class in the tests. Not in the list: ``PoissonPass`` (samples spikes) and
# ``MultiLevelSpikeCount`` (counts up to ``max_spike_count``).
_HEAVISIDE_NAMES = (
    "ATan", "DeterministicPass", "Erf", "FakeNumericalGradient", "LeakyKReLU", "LogTailedReLU",
    "NonzeroSignLogAbs", "PiecewiseExp", "PiecewiseLeakyReLU", "PiecewiseQuadratic",
    "QPseudoSpike", "Rect", "S2NN", "Sigmoid", "SoftSign", "SquarewaveFourierSeries",
    "SuperSpike",
)
HEAVISIDE_SURROGATES = frozenset(
    [Rational] + [getattr(sj_surrogate, n) for n in _HEAVISIDE_NAMES if hasattr(sj_surrogate, n)]
)
"""Surrogate classes whose forward in spiking mode is ``Heaviside``."""


def fires_heaviside(surrogate_function: torch.nn.Module) -> bool:
    """Whether ``surrogate_function``'s output is ``Heaviside(x)`` (``x >= 0`` -> 1): one of
    :data:`HEAVISIDE_SURROGATES` (exact type) with ``spiking=True``. Then a forward that needs
    no gradient may fire without calling it.

    Example:
        >>> fires_heaviside(Rational()), fires_heaviside(sj_surrogate.ATan(spiking=False))
        (True, False)
    """
    return (type(surrogate_function) in HEAVISIDE_SURROGATES
            and bool(getattr(surrogate_function, "spiking", False)))
