"""scikit-learn's bundled 8x8 handwritten digits read as a sequence: needs no download.

Preprocessing: pixel values (0..16) are divided by 16 to lie in [0, 1].

* ``mode="columns"`` (default): time step ``t`` is image column ``t``, its 8 pixels top to
  bottom are the features: ``x [8, 8]``.
* ``mode="pixels"``: the 64 pixels in row-major order, one per step: ``x [64, 1]``.

Split (deterministic, no RNG): within each class, in the order scikit-learn stores the samples,
the last 20 % (rounded to the nearest sample) form the test split; the rest is the training
split. That gives 1438 training and 359 test samples.

Augmentation (``augment=True``, training only by default): the image is shifted by a random
offset in {-1, 0, 1} pixels along each axis, zero-filled at the border, before it is read as a
sequence. The offsets come from ``torch``'s global RNG (seed it for reproducibility).
"""
from __future__ import annotations

import functools
import os

import numpy as np
import torch

from .base import TimeFirstDataset

MODES = ("columns", "pixels")
TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "the digits data set ships with scikit-learn: pip install scikit-learn"
        ) from err
    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)
    return images, bunch.target.astype(np.int64)


def split_indices(labels: np.ndarray, split: str,
                  test_fraction: float = TEST_FRACTION) -> np.ndarray:
    """Indices of ``split``: per class, the last ``round(test_fraction * count)`` go to test.

    Example:
        >>> import numpy as np
        >>> split_indices(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]), "test").tolist()
        [4, 9]
    """
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = int(round(test_fraction * len(idx)))
        chosen.append(idx[len(idx) - n_test:] if split == "test" else idx[: len(idx) - n_test])
    return np.sort(np.concatenate(chosen))


def _shift(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = \
        image[max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)]
    return out


class Digits(TimeFirstDataset):
    """The 8x8 digits as time-first sequences; see the module docstring for the protocol.

    Args:
        split: ``"train"`` or ``"test"``.
        augment: random +-1 pixel shifts.
        mode: ``"columns"`` (``x [8, 8]``) or ``"pixels"`` (``x [64, 1]``).

    Example:
        >>> ds = Digits("test", augment=False)
        >>> x, y = ds[0]
        >>> tuple(x.shape), x.dtype, 0 <= y < 10
        ((8, 8), torch.float32, True)
    """

    def __init__(self, split: str = "train", augment: bool = False, mode: str = "columns") -> None:
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES} for digits, got {mode!r}")
        super().__init__("digits", split, augment, 10, (8,) if mode == "columns" else (1,))
        self.mode = mode
        images, labels = _load()
        idx = split_indices(labels, self.split)
        self.images = torch.from_numpy(images[idx].copy())
        self.labels = labels[idx]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.augment:
            dy, dx = torch.randint(-1, 2, (2,)).tolist()
            image = _shift(image, dy, dx)
        x = image.t().contiguous() if self.mode == "columns" else image.reshape(64, 1)
        return x, int(self.labels[index])


def build_digits(root: str | os.PathLike | None = None, split: str = "train",
                 augment: bool = False, mode: str = "columns") -> Digits:
    """Registry builder for ``"digits"``; ``root`` is ignored (the data ships with
    scikit-learn)."""
    return Digits(split, augment, mode)
