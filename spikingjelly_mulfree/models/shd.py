"""The SHD network with learnable synaptic delays (Hammouamri et al., ICLR 2024), the paper's
Table 7 setting: ``{Dcls256 - BN - SN - Dropout 0.4} x2 - Dcls20 - non-firing LIF readout``.

A DCLS layer is a fully connected layer whose every synapse carries one weight and one
learnable, real-valued delay (0 .. ``max_delay - 1`` steps), realised as a causal 1-D
convolution across time whose kernel is a Gaussian bump at the delay position (``dcls``
package, ``Dcls1d(version="gauss")``). Our reading of the protocol:

* positions start uniform over the whole range; the Gaussian width starts at
  ``max_delay / 2`` and shrinks linearly to DCLS's floor (0.27) over the first quarter of
  the epochs (:meth:`SHDNet.epoch_hook`); it is not trained;
* positions are clamped to the range after every optimizer step
  (:meth:`SHDNet.after_optimizer_step`) and trained with their own learning rate
  (:meth:`SHDNet.parameter_groups`; paper: 0.05 vs 5e-4 for weights);
* the readout is SpikingJelly's ``NonSpikingLIFNode(tau=2)``; the logits are its membrane
  potential averaged over time.

Parameters (defaults, 140 inputs, CPSN k=2): 212,992 synaptic weights and delay positions,
216,064 trainable parameters with the BN and neuron ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import layer
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

from .common import (
    Dilations, check_dropout, check_num_classes, configure_dilations, input_error,
)
from .neurons import neuron_factory

SHD_T = 140
MAX_DELAY = 25
SIGMA_FLOOR = 0.27


def _dcls1d() -> type:
    try:
        from DCLS.construct.modules import Dcls1d
    except ImportError as err:
        raise ImportError(
            "the SHD network needs the DCLS package: pip install dcls"
        ) from err
    return Dcls1d


class DelayedLinear(nn.Module):
    """Fully connected layer with one learnable delay per synapse, on ``x [T, N, C_in]``.

    ``y[t, n, o] = sum_i w[o, i] * sum_j g_{o,i}(j) x[t - (max_delay - 1) + j, n, i]`` with
    ``g`` a normalised Gaussian bump centred on the learnable position (causal: a delay of
    ``max_delay - 1 - position`` steps).

    Example:
        >>> DelayedLinear(6, 4, max_delay=5)(torch.rand(10, 2, 6)).shape
        torch.Size([10, 2, 4])
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int = MAX_DELAY) -> None:
        super().__init__()
        if max_delay < 1 or max_delay % 2 == 0:
            raise ValueError(f"max_delay: expected an odd integer >= 1, got {max_delay!r}")
        self.max_delay = max_delay
        self.dcls = _dcls1d()(in_features, out_features, kernel_count=1,
                              dilated_kernel_size=max_delay, bias=False, version="gauss")
        lim = max_delay // 2
        with torch.no_grad():
            self.dcls.P.uniform_(-lim, lim)
        self.dcls.SIG.requires_grad_(False)
        self.set_sigma(max_delay / 2)

    def set_sigma(self, sigma: float) -> None:
        """Set the Gaussian width to ``max(sigma, 0.27)`` steps."""
        with torch.no_grad():
            self.dcls.SIG.fill_(max(sigma - SIGMA_FLOOR, 0.0))

    def clamp_positions(self) -> None:
        """Keep every delay position inside ``[0, max_delay - 1]``."""
        self.dcls.clamp_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.pad(x.permute(1, 2, 0), (self.max_delay - 1, 0))
        return self.dcls(h).permute(2, 0, 1)


class SHDNet(nn.Module):
    """Learnable-delay network for the Spiking Heidelberg Digits (140 binned channels).

    Args:
        num_classes: 20.
        in_features: channels per step (700 binned by 5: 140).
        hidden: width (256).
        neuron: see :data:`~spikingjelly_mulfree.models.neurons.NEURONS`.
        k: CPSN / sliding PSN order (paper: 2 with sawtooth dilations).
        dilations: ``"sawtooth"`` (default), ``"none"`` (or ``None``) or one per CPSN layer (2).
        surrogate, alpha: surrogate gradient (paper: ATan alpha 5).
        T: sequence length: the sawtooth target; ``neuron="psn"`` pads or crops inputs to it.
        max_delay: delays span ``0 .. max_delay - 1`` steps (odd; paper 25).
        dropout: after each hidden layer (0.4).
        **neuron_options: further CPSN options.

    Shapes:
        ``x [T, N, in_features]`` -> logits ``[N, num_classes]``.

    Example:
        >>> net = SHDNet(hidden=16, k=2, max_delay=5)
        >>> net(torch.rand(30, 2, 140)).shape
        torch.Size([2, 20])
    """

    def __init__(
        self,
        num_classes: int = 20,
        in_features: int = 140,
        hidden: int = 256,
        neuron: str = "cpsn",
        k: int = 2,
        dilations: Dilations = "sawtooth",
        surrogate: str = "atan",
        alpha: float | None = 5.0,
        T: int = SHD_T,
        max_delay: int = MAX_DELAY,
        dropout: float = 0.4,
        **neuron_options: object,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_dropout(dropout)
        make = neuron_factory(neuron, T=T, k=k, surrogate=surrogate, alpha=alpha,
                              **neuron_options)
        self.fixed_T = T if neuron == "psn" else None
        self.in_features = in_features
        blocks: list[nn.Module] = []
        width = in_features
        for _ in range(2):
            blocks += [
                DelayedLinear(width, hidden, max_delay),
                layer.BatchNorm1d(hidden, step_mode="m"),
                make(hidden),
                layer.Dropout(dropout, step_mode="m"),
            ]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.readout = DelayedLinear(hidden, num_classes, max_delay)
        self.readout_neuron = sj_neuron.NonSpikingLIFNode(tau=2.0, decode="mean-mem")
        self.max_delay = max_delay
        self.dilations = configure_dilations(self, T, dilations)

    def delay_layers(self) -> list[DelayedLinear]:
        """The three :class:`DelayedLinear` layers (two hidden, then the readout), in order.

        Example:
            >>> [m.dcls.P.shape for m in SHDNet(hidden=4, k=2, max_delay=3).delay_layers()]
            [torch.Size([1, 4, 140, 1]), torch.Size([1, 4, 4, 1]), torch.Size([1, 20, 4, 1])]
        """
        return [m for m in self.modules() if isinstance(m, DelayedLinear)]

    def parameter_groups(self, lr: float, delay_lr: float, weight_decay: float) -> list[dict]:
        """Optimizer groups: delay positions (``delay_lr``, no weight decay), the rest."""
        positions = [m.dcls.P for m in self.delay_layers()]
        ids = {id(p) for p in positions}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        return [
            {"params": rest, "lr": lr, "weight_decay": weight_decay},
            {"params": positions, "lr": delay_lr, "weight_decay": 0.0},
        ]

    def epoch_hook(self, epoch: int, epochs: int) -> None:
        """Shrink the delay kernels' width linearly over the first quarter of training."""
        span = max(epochs // 4, 1)
        sigma = self.max_delay / 2 * max(1.0 - epoch / span, 0.0)
        for m in self.delay_layers():
            m.set_sigma(sigma)

    def after_optimizer_step(self) -> None:
        """Clamp every delay position back into range (delays ``0 .. max_delay - 1`` steps;
        the positions ``P`` are stored centred, in ``[-(max_delay // 2), max_delay // 2]``).
        The trainer calls it after each optimizer step.

        Example:
            >>> net = SHDNet(hidden=4, k=2, max_delay=5)
            >>> with torch.no_grad():
            ...     _ = net.readout.dcls.P.fill_(100.0)
            >>> net.after_optimizer_step()
            >>> net.readout.dcls.P.max().item()
            2.0
        """
        for m in self.delay_layers():
            m.clamp_positions()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.in_features:
            raise input_error(x, f"[{{T}}, N, {self.in_features}]", "in_features=")
        if self.fixed_T is not None and x.shape[0] != self.fixed_T:
            x = F.pad(x[: self.fixed_T], (0, 0, 0, 0, 0, max(self.fixed_T - x.shape[0], 0)))
        return self.readout_neuron(self.readout(self.body(x)))
