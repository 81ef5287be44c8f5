"""Batch-level MixUp / CutMix for the CIFAR readings (torchvision ``transforms.v2``).

Each call picks one of the two with probability 1/2: MixUp with ``alpha = 0.2`` or CutMix with
``alpha = 1.0``. The time-first batch is turned back into images ``[N, 3, 32, 32]`` so that
CutMix cuts a rectangle of the picture (not of the sequence), then read as a sequence again.
The returned labels are soft: ``[N, num_classes]`` float, ready for
``torch.nn.functional.cross_entropy`` (which accepts class probabilities).
"""
from __future__ import annotations

import torch

MIXUP_ALPHA = 0.2
CUTMIX_ALPHA = 1.0


def mix_images(images: torch.Tensor, labels: torch.Tensor, num_classes: int) \
        -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp or CutMix (chosen at random) on ``images [N, C, H, W]``, ``labels [N]`` int64.

    Example:
        >>> import torch
        >>> x, y = mix_images(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]), 10)
        >>> tuple(x.shape), tuple(y.shape), bool(torch.allclose(y.sum(1), torch.ones(4)))
        ((4, 3, 8, 8), (4, 10), True)
    """
    try:
        from torchvision.transforms import v2
    except ImportError as err:
        raise ImportError("MixUp/CutMix need torchvision: pip install torchvision") from err
    if labels.dtype != torch.long or labels.dim() != 1:
        raise ValueError(f"labels: expected class indices [N] int64, got {labels.dtype} "
                         f"{tuple(labels.shape)}")
    if torch.rand(()) < 0.5:
        mixer = v2.MixUp(alpha=MIXUP_ALPHA, num_classes=num_classes)
    else:
        mixer = v2.CutMix(alpha=CUTMIX_ALPHA, num_classes=num_classes)
    mixed, soft = mixer(images, labels)
    return mixed.as_subclass(torch.Tensor), soft


def mix_sequential_cifar(x: torch.Tensor, labels: torch.Tensor, num_classes: int) \
        -> tuple[torch.Tensor, torch.Tensor]:
    """Batch transform for ``scifar10``/``scifar100``: ``x [32 cols, N, 3, 32 rows]``.

    Returns ``(x [32, N, 3, 32], soft labels [N, num_classes])``.

    Example:
        >>> import torch
        >>> x, y = mix_sequential_cifar(torch.rand(32, 2, 3, 32), torch.tensor([1, 4]), 10)
        >>> tuple(x.shape), tuple(y.shape)
        ((32, 2, 3, 32), (2, 10))
    """
    images = x.permute(1, 2, 3, 0)
    mixed, soft = mix_images(images, labels, num_classes)
    return mixed.permute(3, 0, 1, 2).contiguous(), soft


def mix_pixel_cifar(x: torch.Tensor, labels: torch.Tensor, num_classes: int) \
        -> tuple[torch.Tensor, torch.Tensor]:
    """Batch transform for ``pcifar10``: ``x [1024, N, 3]`` (row-major pixels).

    Returns ``(x [1024, N, 3], soft labels [N, num_classes])``.

    Example:
        >>> import torch
        >>> x, y = mix_pixel_cifar(torch.rand(1024, 2, 3), torch.tensor([1, 4]), 10)
        >>> tuple(x.shape), tuple(y.shape)
        ((1024, 2, 3), (2, 10))
    """
    steps, n, channels = x.shape
    side = int(round(steps ** 0.5))
    if side * side != steps:
        raise ValueError(f"x: expected a square number of pixel steps (1024), got {steps}")
    images = x.permute(1, 2, 0).reshape(n, channels, side, side)
    mixed, soft = mix_images(images, labels, num_classes)
    return mixed.reshape(n, channels, steps).permute(2, 0, 1).contiguous(), soft
