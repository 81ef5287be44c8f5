"""The dataset contract shared by every loader: ``ds[i] -> (x [T, *features] float32, label)``
and a ``collate_fn`` that builds ``(x [T, N, *features], labels [N] int64)``."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from .collate import stack_time_first

Collate = Callable[[Sequence[tuple[torch.Tensor, int]]], tuple[torch.Tensor, torch.Tensor]]

SPLITS = ("train", "test")


def check_split(split: object) -> str:
    """Return ``split`` if it is one of :data:`SPLITS`, else raise naming the argument.

    Example:
        >>> check_split("test")
        'test'
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    return str(split)


class TimeFirstDataset(Dataset):
    """Base class: subclasses implement ``__len__`` and ``__getitem__``.

    Attributes:
        name: the registry name (a key of ``DATASETS``).
        split: ``"train"`` or ``"test"``.
        augment: whether per-sample augmentations run.
        num_classes: number of labels.
        feature_shape: shape of one time step ``x[t]`` of this instance (options such as
            digits' ``mode="pixels"`` change it from the registry default).
        collate_fn: stacks items into a time-first batch (pass it to ``DataLoader``).

    Example:
        >>> class Ramp(TimeFirstDataset):
        ...     def __len__(self):
        ...         return 2
        ...     def __getitem__(self, i):
        ...         return torch.full((4, 3), float(i)), i
        >>> ds = Ramp("ramp", "test", False, 2, (3,))
        >>> x, y = ds.collate_fn([ds[0], ds[1]])
        >>> ds, tuple(x.shape), y.tolist()
        (Ramp(name='ramp', split='test', augment=False, len=2), (4, 2, 3), [0, 1])
    """

    collate_fn: Collate = staticmethod(stack_time_first)

    def __init__(self, name: str, split: str, augment: bool, num_classes: int,
                 feature_shape: tuple[int, ...]) -> None:
        self.name = name
        self.split = check_split(split)
        self.augment = bool(augment)
        self.num_classes = num_classes
        self.feature_shape = tuple(feature_shape)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, "
                f"augment={self.augment}, len={len(self)})")
