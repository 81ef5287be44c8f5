r"""The BatchNorm threshold, fused into the charge (paper appendix C).

The threshold of channel ``c`` is a BatchNorm on the un-biased charge
``H_0 = \mathrm{conv}(X, W)`` (see :mod:`spikingjelly_mulfree.functional.charge`) with
``gamma`` initialised to 1 and ``beta`` to -1 (so that, at initialisation, a neuron fires
when its normalised charge exceeds 1). Because the BN is affine per channel it folds into
the kernel and the bias:

.. math::

    W^f_{c,i} = \frac{\gamma_c W_{c,i}}{\sqrt{\sigma^2_c + \epsilon}}, \qquad
    b^f_c = \beta_c - \frac{\gamma_c \mu_c}{\sqrt{\sigma^2_c + \epsilon}}

and the neuron fires on ``conv(X, Q(W^f)) + b^f >= 0``: the power-of-two quantizer acts on
the fused weights. In training ``mu`` and ``sigma^2`` are the batch mean and biased variance
of ``H_0`` over every dim but the channel (gradients flow through both); in eval they are
the running statistics.
"""
from __future__ import annotations

import torch

from .quantize import quantize_pow2

BN = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]
"""``(mean, var, gamma, beta, eps)`` of the BatchNorm threshold, each tensor ``[C]``."""


def moments(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of ``h`` ``[T, N, C, S]`` over T, N and S.

    Example:
        >>> m, v = moments(torch.arange(4.0).view(4, 1, 1, 1))
        >>> m.item(), v.item()
        (1.5, 1.25)
    """
    var, mean = torch.var_mean(h, dim=(0, 1, 3), unbiased=False)
    return mean, var


def fuse_bn(
    weight: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold a per-channel BatchNorm into a ``[C, k]`` kernel and a ``[C]`` bias.

    Returns:
        ``(W_f [C, k], b_f [C])`` as in the module docstring.

    Example:
        >>> w, b = fuse_bn(torch.ones(1, 2), torch.tensor([2.0]), torch.tensor([4.0]),
        ...                torch.ones(1), -torch.ones(1), 0.0)
        >>> w.tolist(), b.tolist()
        ([[0.5, 0.5]], [-2.0])
    """
    scale = gamma * torch.rsqrt(var + eps)
    return weight * scale.unsqueeze(1), beta - mean * scale


def fold_kernel(
    weight: torch.Tensor,
    bn: BN | None,
    exp_range: tuple[int, int] | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The effective taps of a layer: :func:`fuse_bn` (when ``bn`` is given), then the
    power-of-two quantizer (when ``exp_range`` is given).

    Args:
        weight: latent taps ``[C, k]``.
        bn: ``(mean, var, gamma, beta, eps)``, tensors ``[C]``, or ``None``.
        exp_range: ``(min_exp, max_exp)`` of
            :func:`~spikingjelly_mulfree.functional.quantize.quantize_pow2`, or ``None``.

    Returns:
        ``(W_f [C, k], b_f [C])``; ``b_f`` is ``None`` without ``bn``.

    Example:
        >>> bn = (torch.tensor([2.0]), torch.tensor([4.0]), torch.ones(1), -torch.ones(1), 0.0)
        >>> w, b = fold_kernel(torch.tensor([[0.3, -1.0]]), bn, (-24, 8))
        >>> w.tolist(), b.tolist()
        ([[0.125, -0.5]], [-2.0])
    """
    b = None
    if bn is not None:
        weight, b = fuse_bn(weight, *bn)
    if exp_range is not None:
        weight = quantize_pow2(weight, *exp_range)
    return weight, b


@torch.no_grad()
def update_running_stats(
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    count: int,
    momentum: float,
) -> None:
    """Exponential moving average as in ``torch.nn.BatchNorm``: the running variance is the
    unbiased estimate (``var * count / (count - 1)``); updated in place.

    Args:
        running_mean, running_var: ``[C]``, updated in place.
        mean, var: ``[C]`` batch mean and biased variance (:func:`moments`).
        count: elements per channel behind ``mean`` and ``var`` (``T * N * S``).
        momentum: weight of the batch, in ``[0, 1]``.

    Example:
        >>> rm, rv = torch.zeros(1), torch.ones(1)
        >>> update_running_stats(rm, rv, torch.tensor([2.0]), torch.tensor([1.5]), 4, 0.5)
        >>> rm.tolist(), rv.tolist()
        ([1.0], [1.5])
    """
    unbiased = var * (count / max(count - 1, 1))
    if mean.dtype != running_mean.dtype:
        mean, unbiased = mean.to(running_mean.dtype), unbiased.to(running_var.dtype)
    running_mean.lerp_(mean, momentum)
    running_var.lerp_(unbiased, momentum)
