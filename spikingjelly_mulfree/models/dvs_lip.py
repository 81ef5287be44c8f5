"""The DVS-Lip network: a spiking ResNet-18 frontend with a stateful readout (paper, Table 7).

``Conv3d c64 k(5,7,7) s(1,2,2) p(2,3,3) - BN - SN - AvgPool k3 s2 p1 - {RB64}x2 {RB128}x2
{RB256}x2 {RB512}x2 - adaptive avgpool - dropout - stateful FC100``. The 3-D convolution mixes
5 neighbouring frames; everything after it works frame by frame (SpikingJelly multi-step
layers) apart from the neurons, which carry the temporal dynamics. Pooling layers have no
neurons. Our reading:

* ``RB`` is :class:`~spikingjelly_mulfree.models.blocks.ConvResBlock` (stride 2 and a
  1x1 conv shortcut where the width doubles);
* the stateful FC is a linear layer feeding SpikingJelly's non-firing
  ``NonSpikingLIFNode(tau=2)``, whose membrane potential averaged over time gives the logits;
* dropout ``p = 0.5`` (the paper gives none), the mask shared across time steps.

Parameters (CPSN k=2, 100 classes): 11,265,380; with LIF neurons 11,249,764.
"""
from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

from .blocks import ConvResBlock
from .common import (
    Dilations, check_dropout, check_num_classes, check_widths, configure_dilations,
    input_error, wrong_length,
)
from .neurons import neuron_factory

DVS_LIP_T = 90


class DVSLipNet(nn.Module):
    """Spiking ResNet-18 lip-reading network on event frames.

    Args:
        num_classes: 100 words.
        in_channels: frame polarities (2).
        neuron: see :data:`~spikingjelly_mulfree.models.neurons.NEURONS`.
        k: CPSN / sliding PSN order (paper: 2 with sawtooth dilations).
        dilations: ``"sawtooth"`` (default), ``"none"`` (or ``None``) or one per CPSN layer (17).
        surrogate, alpha: surrogate gradient (paper: rational ``1/(1+alpha x^2)``, alpha 10).
        T: frames per sample (90): the sawtooth target and ``neuron="psn"``'s length.
        widths: channels of the stem and four stages.
        dropout: before the readout.
        **neuron_options: further CPSN options.

    Shapes:
        ``x [T, N, 2, H, W]`` (88 x 88 after cropping) -> logits ``[N, num_classes]``.

    Example:
        >>> net = DVSLipNet(10, k=2, T=4, widths=(4, 4, 8, 8, 8))
        >>> net(torch.rand(4, 2, 2, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 100,
        in_channels: int = 2,
        neuron: str = "cpsn",
        k: int = 2,
        dilations: Dilations = "sawtooth",
        surrogate: str = "rational",
        alpha: float | None = 10.0,
        T: int = DVS_LIP_T,
        widths: tuple[int, int, int, int, int] = (64, 64, 128, 256, 512),
        dropout: float = 0.5,
        **neuron_options: object,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_widths(widths, 5, "the stem and four stages")
        check_dropout(dropout)
        make = neuron_factory(neuron, T=T, k=k, surrogate=surrogate, alpha=alpha,
                              **neuron_options)
        self.in_channels = in_channels
        self.fixed_T = T if neuron == "psn" else None
        stem = widths[0]
        self.conv3d = nn.Conv3d(in_channels, stem, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False)
        self.bn3d = nn.BatchNorm3d(stem)
        self.sn = make(stem)
        self.pool = layer.AvgPool2d(3, 2, 1, step_mode="m")
        blocks: list[nn.Module] = []
        c_in = stem
        for i, c_out in enumerate(widths[1:]):
            stride = 1 if i == 0 else 2
            blocks += [ConvResBlock(c_in, c_out, stride, make), ConvResBlock(c_out, c_out, 1, make)]
            c_in = c_out
        self.stages = nn.Sequential(*blocks)
        self.gap = layer.AdaptiveAvgPool2d(1, step_mode="m")
        self.flatten = layer.Flatten(step_mode="m")
        self.dropout = layer.Dropout(dropout, step_mode="m")
        self.fc = layer.Linear(c_in, num_classes, step_mode="m")
        self.readout = sj_neuron.NonSpikingLIFNode(tau=2.0, decode="mean-mem")
        self.dilations = configure_dilations(self, T, dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[2] != self.in_channels or wrong_length(x, self.fixed_T):
            raise input_error(x, f"frames [{{T}}, N, {self.in_channels}, H, W]", "in_channels=",
                              self.fixed_T)
        h = self.bn3d(self.conv3d(x.permute(1, 2, 0, 3, 4)))
        h = self.pool(self.sn(h.permute(2, 0, 1, 3, 4).contiguous()))
        h = self.flatten(self.gap(self.stages(h)))
        return self.readout(self.fc(self.dropout(h)))
