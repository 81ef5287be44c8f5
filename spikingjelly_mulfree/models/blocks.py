"""Residual blocks of spiking networks (our reading of the paper's "RB").

The paper names its residual blocks without drawing them. We use the basic block of the
spiking ResNet (SpikingJelly's ``spiking_resnet``): ``SN(BN(W2 SN(BN(W1 x))) + shortcut(x))``,
so the block's output stays binary; the shortcut is the identity, or ``W - BN`` when the width
or stride changes.
"""
from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from torch import nn

from .neurons import NeuronFactory


class LinearResBlock(nn.Module):
    """``SN(BN(FC(SN(BN(FC(x))))) + x)`` on ``x [T, N, C]`` (pixel CIFAR's ``RB C``).

    Example:
        >>> from spikingjelly_mulfree.models.neurons import neuron_factory
        >>> LinearResBlock(16, neuron_factory("lif"))(torch.rand(5, 2, 16)).shape
        torch.Size([5, 2, 16])
    """

    def __init__(self, channels: int, make: NeuronFactory) -> None:
        super().__init__()
        self.fc1 = layer.Linear(channels, channels, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm1d(channels, step_mode="m")
        self.sn1 = make(channels)
        self.fc2 = layer.Linear(channels, channels, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm1d(channels, step_mode="m")
        self.sn2 = make(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.sn1(self.bn1(self.fc1(x)))
        return self.sn2(self.bn2(self.fc2(h)) + x)


class ConvResBlock(nn.Module):
    """ResNet-18 basic block on frames ``x [T, N, C, H, W]``:
    ``SN(BN(conv3x3(SN(BN(conv3x3_s(x))))) + shortcut(x))``.

    Example:
        >>> from spikingjelly_mulfree.models.neurons import neuron_factory
        >>> ConvResBlock(4, 8, 2, neuron_factory("lif"))(torch.rand(3, 2, 4, 8, 8)).shape
        torch.Size([3, 2, 8, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 make: NeuronFactory) -> None:
        super().__init__()
        self.conv1 = layer.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False,
                                  step_mode="m")
        self.bn1 = layer.BatchNorm2d(out_channels, step_mode="m")
        self.sn1 = make(out_channels)
        self.conv2 = layer.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(out_channels, step_mode="m")
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                layer.Conv2d(in_channels, out_channels, 1, stride, bias=False, step_mode="m"),
                layer.BatchNorm2d(out_channels, step_mode="m"),
            )
        self.sn2 = make(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.sn1(self.bn1(self.conv1(x)))
        return self.sn2(self.bn2(self.conv2(h)) + self.shortcut(x))
