"""A small network for the bundled 8x8 digits (the demo): ``{Linear - BN - SN} x2 - Linear``,
readout averaged over time.

With the defaults (``hidden=128``, 8 inputs per step, 10 classes): 20,746 parameters for
``neuron="cpsn"`` (k=4), 19,210 for ``"lif"``.
"""
from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from torch import nn

from .common import Dilations, configure_dilations
from .neurons import neuron_factory

DIGITS_T = 8


class DigitsNet(nn.Module):
    """``Linear(in, H) - BN - SN - Linear(H, H) - BN - SN - Linear(H, classes)``, mean over T.

    Args:
        num_classes: output classes (10).
        in_features: features per step (8 for image columns, 1 for pixels).
        hidden: width ``H``.
        neuron: see :data:`~spikingjelly_mulfree.models.neurons.NEURONS`.
        k: order of CPSN / sliding PSN.
        dilations: ``None``, ``"sawtooth"`` (default) or one per CPSN layer (2).
        surrogate, alpha: surrogate gradient.
        T: sequence length (8 columns); needed by ``"psn"`` and the sawtooth schedule.
        **neuron_options: further CPSN options.

    Shapes:
        ``x [T, N, in_features]`` -> logits ``[N, num_classes]``.

    Example:
        >>> DigitsNet()(torch.rand(8, 4, 8)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_features: int = 8,
        hidden: int = 128,
        neuron: str = "cpsn",
        k: int = 4,
        dilations: Dilations = "sawtooth",
        surrogate: str = "atan",
        alpha: float | None = 2.0,
        T: int = DIGITS_T,
        **neuron_options: object,
    ) -> None:
        super().__init__()
        make = neuron_factory(neuron, T=T, k=k, surrogate=surrogate, alpha=alpha,
                              **neuron_options)
        self.body = nn.Sequential(
            layer.Linear(in_features, hidden, bias=False, step_mode="m"),
            layer.BatchNorm1d(hidden, step_mode="m"),
            make(hidden),
            layer.Linear(hidden, hidden, bias=False, step_mode="m"),
            layer.BatchNorm1d(hidden, step_mode="m"),
            make(hidden),
        )
        self.classifier = layer.Linear(hidden, num_classes, step_mode="m")
        self.dilations = configure_dilations(self, T, dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"x: expected [T, N, features], got {tuple(x.shape)}")
        return self.classifier(self.body(x)).mean(0)
