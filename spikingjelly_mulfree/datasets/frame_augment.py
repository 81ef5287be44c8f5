"""Augmentations of event-frame clips ``[T, P, H, W]`` (DVS-Lip), drawn from torch's RNG.

The numbers and their meaning follow the DVS-Lip pipeline of the strongest baseline the paper
compares with (SpikGRU, T = 90). Training order (:class:`LipReadingAugment`): random crop to
``size``, horizontal flip (p 0.5), spatial masks, zoom, temporal masks. Evaluation: the
centre crop only.

* spatial masks: ``count`` squares, each centred at a uniform pixel with side ``2 * (l // 2)``
  for ``l`` uniform in ``[1, max_size)``, clipped at the border, zeroed in every frame (the
  same squares for the whole clip).
* zoom: always applied, in or out with probability 1/2 each. In: the central ``s x s`` with
  ``s`` uniform in ``[size - max_zoom, size)`` is resized up to ``size``. Out: ``z`` zero
  pixels, ``z`` uniform in ``[0, max_zoom)``, are added on every side and the result resized
  down to ``size``. Resizing is bilinear (antialiased when shrinking).
* temporal masks: ``count`` runs of whole frames with lengths uniform in ``[0, max_len)`` at
  starts uniform in ``[0, T - length)`` are zeroed (runs may overlap).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _randint(low: int, high: int) -> int:
    """Uniform integer in ``[low, high)``; ``low`` when the range is empty."""
    if high <= low:
        return low
    return int(torch.randint(low, high, ()).item())


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
    top, left = _randint(0, h - size + 1), _randint(0, w - size + 1)
    return frames[..., top: top + size, left: left + size]


def _resize(frames: torch.Tensor, size: int) -> torch.Tensor:
    t, p, h, w = frames.shape
    out = F.interpolate(frames.reshape(t * p, 1, h, w), size=(size, size), mode="bilinear",
                        align_corners=False, antialias=h > size)
    return out.reshape(t, p, size, size)


def zoom(frames: torch.Tensor, max_zoom: int) -> torch.Tensor:
    """Zoom ``[T, P, S, S]`` in or out (probability 1/2 each) by up to ``max_zoom`` pixels.

    Example:
        >>> zoom(torch.rand(4, 2, 88, 88), 26).shape
        torch.Size([4, 2, 88, 88])
    """
    size = frames.shape[-1]
    if torch.rand(()) < 0.5:
        return _resize(centre_crop(frames, _randint(size - max_zoom, size)), size)
    border = _randint(0, max_zoom)
    return _resize(F.pad(frames, (border,) * 4), size)


def spatial_masks_(frames: torch.Tensor, count: int, max_size: int) -> torch.Tensor:
    """Zero ``count`` random squares (see the module docstring) in every frame, in place.

    Example:
        >>> x = spatial_masks_(torch.ones(2, 1, 30, 30), count=1, max_size=20)
        >>> bool((x[0] == x[1]).all()), bool((x <= 1).all())
        (True, True)
    """
    h, w = frames.shape[-2:]
    for _ in range(count):
        cy, cx = _randint(0, h), _randint(0, w)
        half = _randint(1, max_size) // 2
        frames[..., max(cy - half, 0): cy + half, max(cx - half, 0): cx + half] = 0
    return frames


def temporal_masks_(frames: torch.Tensor, count: int, max_len: int) -> torch.Tensor:
    """Zero ``count`` random runs of whole frames (lengths below ``max_len``), in place."""
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
        spatial_masks_(frames, self.spatial_count, self.spatial_max)
        frames = zoom(frames, self.max_zoom)
        return temporal_masks_(frames, self.temporal_count, self.temporal_max).contiguous()
