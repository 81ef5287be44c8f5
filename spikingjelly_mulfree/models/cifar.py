"""The paper's CIFAR networks (its Table 7): sequential CIFAR and pixel CIFAR-10.

Both take time-first input and average the readout over time: logits ``[N, num_classes]``.

Parameter counts (CPSN, default options; from ``python -m spikingjelly_mulfree.models``):

=====================================  ===========  ================
network                                 parameters   spiking neurons
=====================================  ===========  ================
``SequentialCIFARNet(10)``, k=16          531,850          18,688
``SequentialCIFARNet(100)``, k=16         554,980          18,688
=====================================  ===========  ================
"""
from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from torch import nn

from .blocks import LinearResBlock
from .common import (
    Dilations, check_num_classes, check_widths, configure_dilations, input_error, wrong_length,
)
from .neurons import neuron_factory

SCIFAR_T = 32


class SequentialCIFARNet(nn.Module):
    """Sequential CIFAR: image columns are time steps (``T = 32``), each step holds the 32
    rows of 3 colours.

    ``{{Conv1d c128 k3 s1 p1 - BN - SN} x3 - AvgPool k2 s2} x2 - FC256 - SN - FC`` with the
    convolutions and pooling along the rows; the ``FC`` output is averaged over time.
    ``128 * (3*32 + 3*16) + 256 = 18,688`` spiking neurons.

    Args:
        num_classes: 10 or 100.
        neuron: see :data:`~spikingjelly_mulfree.models.neurons.NEURONS`.
        k: order of CPSN / sliding PSN (paper: 16).
        dilations: CPSN dilations: ``None`` or ``"none"`` (all 1, the paper's setting here),
            ``"sawtooth"`` or one per CPSN layer (7).
        surrogate, alpha: surrogate gradient (paper: ATan, alpha 2).
        T: sequence length (32 for CIFAR images); needed by ``neuron="psn"``.
        channels: width of the convolutions (paper 128).
        **neuron_options: further CPSN options (``mul_free``, ``backend``, ...).

    Shapes:
        ``x [T, N, 3, 32]`` -> logits ``[N, num_classes]``.

    Example:
        >>> net = SequentialCIFARNet(10, k=4)
        >>> net(torch.rand(32, 2, 3, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        neuron: str = "cpsn",
        k: int = 16,
        dilations: Dilations = None,
        surrogate: str = "atan",
        alpha: float | None = 2.0,
        T: int = SCIFAR_T,
        channels: int = 128,
        in_channels: int = 3,
        length: int = 32,
        **neuron_options: object,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        make = neuron_factory(neuron, T=T, k=k, surrogate=surrogate, alpha=alpha,
                              **neuron_options)
        self.in_channels, self.length = in_channels, length
        self.fixed_T = T if neuron == "psn" else None
        blocks: list[nn.Module] = []
        c_in = in_channels
        for _stage in range(2):
            for _ in range(3):
                blocks += [
                    layer.Conv1d(c_in, channels, 3, 1, 1, bias=False, step_mode="m"),
                    layer.BatchNorm1d(channels, step_mode="m"),
                    make(channels),
                ]
                c_in = channels
            blocks.append(layer.AvgPool1d(2, 2, step_mode="m"))
        self.features = nn.Sequential(*blocks)
        self.flatten = layer.Flatten(step_mode="m")
        self.fc = layer.Linear(channels * (length // 4), 256, step_mode="m")
        self.sn = make(256)
        self.classifier = layer.Linear(256, num_classes, step_mode="m")
        self.dilations = configure_dilations(self, T, dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dim() != 4 or x.shape[2] != self.in_channels
                or x.shape[3] // 4 != self.length // 4 or wrong_length(x, self.fixed_T)):
            raise input_error(x, f"[{{T}}, N, {self.in_channels}, {self.length}] (columns as "
                              "time)", "in_channels=, length=", self.fixed_T)
        h = self.flatten(self.features(x))
        return self.classifier(self.sn(self.fc(h))).mean(0)


PCIFAR_T = 1024


class PixelCIFARNet(nn.Module):
    """Pixel CIFAR-10: the 1024 pixels in row-major order are the time steps, 3 colours each.

    ``FC128 - BN - SN - {RB128} x2 - AvgPool k4 s4 - FC256 - BN - SN - {RB256} x2 - FC``, the
    ``FC`` output averaged over time. Our reading: ``RB`` is
    :class:`~spikingjelly_mulfree.models.blocks.LinearResBlock`, and the pooling runs along
    *time* (``T`` 1024 -> 256), so the last five neuron layers see 256 steps.

    Args:
        num_classes: 10.
        neuron: see :data:`~spikingjelly_mulfree.models.neurons.NEURONS`.
        k: order of CPSN / sliding PSN (paper: 17 with sawtooth dilations).
        dilations: ``"sawtooth"`` (default; the schedule covers ``T``), ``"none"`` (or
            ``None``) or one per CPSN layer (10).
        surrogate, alpha: surrogate gradient.
        T: sequence length (1024); PSN layers after the pooling get ``T // 4``.
        widths: the two widths (paper 128, 256).
        **neuron_options: further CPSN options.

    Shapes:
        ``x [T, N, 3]`` -> logits ``[N, num_classes]``.

    Example:
        >>> net = PixelCIFARNet(10, k=3, T=64, widths=(8, 16))
        >>> net(torch.rand(64, 2, 3)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        neuron: str = "cpsn",
        k: int = 17,
        dilations: Dilations = "sawtooth",
        surrogate: str = "atan",
        alpha: float | None = 2.0,
        T: int = PCIFAR_T,
        widths: tuple[int, int] = (128, 256),
        in_channels: int = 3,
        **neuron_options: object,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        if T % 4:
            raise ValueError(
                f"T: expected a multiple of 4 (the time pooling has stride 4), got {T}")
        check_widths(widths, 2, "before and after the time pooling")
        c1, c2 = widths
        self.in_channels = in_channels
        self.fixed_T = T if neuron == "psn" else None
        early = neuron_factory(neuron, T=T, k=k, surrogate=surrogate, alpha=alpha,
                               **neuron_options)
        late = neuron_factory(neuron, T=T // 4, k=k, surrogate=surrogate, alpha=alpha,
                              **neuron_options)
        self.stem = nn.Sequential(
            layer.Linear(in_channels, c1, bias=False, step_mode="m"),
            layer.BatchNorm1d(c1, step_mode="m"),
            early(c1),
            LinearResBlock(c1, early),
            LinearResBlock(c1, early),
        )
        self.pool = TimeAvgPool(4)
        self.head = nn.Sequential(
            layer.Linear(c1, c2, bias=False, step_mode="m"),
            layer.BatchNorm1d(c2, step_mode="m"),
            late(c2),
            LinearResBlock(c2, late),
            LinearResBlock(c2, late),
        )
        self.classifier = layer.Linear(c2, num_classes, step_mode="m")
        self.dilations = configure_dilations(self, T, dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.in_channels or wrong_length(x, self.fixed_T):
            raise input_error(x, f"[{{T}}, N, {self.in_channels}] (pixels as time)",
                              "in_channels=", self.fixed_T)
        return self.classifier(self.head(self.pool(self.stem(x)))).mean(0)


class TimeAvgPool(nn.Module):
    """Average non-overlapping windows of ``stride`` steps: ``[T, N, *] -> [T // stride, N, *]``.

    Example:
        >>> TimeAvgPool(4)(torch.ones(8, 2, 3)).shape
        torch.Size([2, 2, 3])
    """

    def __init__(self, stride: int) -> None:
        super().__init__()
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride: expected an integer >= 1 (steps per window), got {stride!r}")
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0] - x.shape[0] % self.stride
        return x[:T].reshape(T // self.stride, self.stride, *x.shape[1:]).mean(1)
