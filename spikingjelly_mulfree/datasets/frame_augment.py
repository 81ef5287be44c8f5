"""Augmentations of event-frame clips ``[T, P, H, W]`` (DVS-Lip), drawn from torch's RNG.

Training order (:class:`LipReadingAugment`): random crop to ``size``, horizontal flip (p 0.5),
zoom in or out (p 0.5), spatial masks, temporal masks. Evaluation: centre crop only.

* zoom: the clip is resized (bilinear) to ``s x s`` with ``s`` uniform in
  ``[size - max_zoom, size + max_zoom]``, then centre-cropped (zoom in) or zero-padded around
  the centre (zoom out) back to ``size x size``.
* spatial masks: ``count`` squares with sides uniform in ``[0, max_size]`` at uniform
  positions are zeroed in every frame (the same squares over the whole clip).
* temporal masks: ``count`` runs of whole frames with lengths uniform in ``[0, max_len]`` at
  uniform starts are zeroed (runs may overlap).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _randint(low: int, high: int) -> int:
    """Uniform integer in ``[low, high]`` (inclusive)."""
    return int(torch.randint(low, high + 1, ()).item())


def centre_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Crop the last two dims of ``frames [..., H, W]`` to ``size x size`` around the centre.

    Example:
        >>> centre_crop(torch.zeros(3, 2, 96, 96), 88).shape
        torch.Size([3, 2, 88, 88])
    """
    h, w = frames.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"frames: expected H, W >= {size}, got {h}x{w}")
    top, left = (h - size) // 2, (w - size) // 2
    return frames[..., top: top + size, left: left + size]


def random_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Crop the last two dims to ``size x size`` at a uniform position."""
    h, w = frames.shape[-2:]
    top, left = _randint(0, h - size), _randint(0, w - size)
    return frames[..., top: top + size, left: left + size]


def zoom(frames: torch.Tensor, max_zoom: int) -> torch.Tensor:
    """Resize ``[T, P, S, S]`` by up to ``max_zoom`` pixels either way, keep ``S x S``."""
    t, p, size, _ = frames.shape
    new = _randint(size - max_zoom, size + max_zoom)
    if new == size:
        return frames
    resized = F.interpolate(frames.reshape(t * p, 1, size, size), size=(new, new),
                            mode="bilinear", align_corners=False).reshape(t, p, new, new)
    if new > size:
        return centre_crop(resized, size)
    out = frames.new_zeros(frames.shape)
    top = (size - new) // 2
    out[..., top: top + new, top: top + new] = resized
    return out


def spatial_masks_(frames: torch.Tensor, count: int, max_size: int) -> torch.Tensor:
    """Zero ``count`` random squares (sides up to ``max_size``) in every frame, in place.

    Example:
        >>> x = spatial_masks_(torch.ones(2, 1, 30, 30), count=1, max_size=30)
        >>> bool((x[0] == x[1]).all()), bool((x <= 1).all())
        (True, True)
    """
    h, w = frames.shape[-2:]
    for _ in range(count):
        side = _randint(0, max_size)
        top, left = _randint(0, h - side), _randint(0, w - side)
        frames[..., top: top + side, left: left + side] = 0
    return frames


def temporal_masks_(frames: torch.Tensor, count: int, max_len: int) -> torch.Tensor:
    """Zero ``count`` random runs of whole frames (lengths up to ``max_len``), in place."""
    steps = frames.shape[0]
    for _ in range(count):
        length = _randint(0, min(max_len, steps))
        start = _randint(0, steps - length)
        frames[start: start + length] = 0
    return frames


@dataclass(frozen=True)
class LipReadingAugment:
    """The DVS-Lip pipeline on ``[T, P, H, W]`` clips; output ``[T, P, size, size]``, a new
    contiguous tensor (the input is never modified).

    Example:
        >>> aug = LipReadingAugment(train=True)
        >>> aug(torch.rand(90, 2, 96, 96)).shape
        torch.Size([90, 2, 88, 88])
    """

    train: bool
    size: int = 88
    flip_p: float = 0.5
    zoom_p: float = 0.5
    max_zoom: int = 26
    spatial_count: int = 4
    spatial_max: int = 20
    temporal_count: int = 6
    temporal_max: int = 18

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if not self.train:
            return centre_crop(frames, self.size).contiguous()
        frames = random_crop(frames, self.size)
        frames = frames.flip(-1) if torch.rand(()) < self.flip_p else frames.clone(
            memory_format=torch.contiguous_format)
        if torch.rand(()) < self.zoom_p:
            frames = zoom(frames, self.max_zoom)
        spatial_masks_(frames, self.spatial_count, self.spatial_max)
        return temporal_masks_(frames, self.temporal_count, self.temporal_max).contiguous()
