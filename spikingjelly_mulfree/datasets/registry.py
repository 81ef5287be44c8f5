"""Metadata of every data set and the single entry point :func:`build_dataset`."""
from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .base import TimeFirstDataset, check_split

BatchTransform = Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class DatasetInfo:
    """What a training script needs to know about a data set before loading it.

    Attributes:
        name: the registry key.
        num_classes: number of labels.
        feature_shape: shape of one time step, ``x[t]``.
        default_T: sequence length; for variable-length data (SHD) the longest sample,
            about 1.4 s at 10 ms per step.
        variable_length: ``True`` when samples differ in ``T`` (the collate pads).
        label_smoothing: the paper's label smoothing for the cross-entropy loss.
        batch_transform: ``f(x [T, N, *features], labels [N], num_classes) -> (x, soft labels
            [N, num_classes])`` applied to training batches, or ``None``.
        builder: ``"module:function"`` that builds the dataset (imported lazily).
        summary: one line on the source and preprocessing.

    Example:
        >>> info = DATASETS["scifar10"]
        >>> info.num_classes, info.feature_shape, info.default_T, info.label_smoothing
        (10, (3, 32), 32, 0.1)
    """

    name: str
    num_classes: int
    feature_shape: tuple[int, ...]
    default_T: int
    variable_length: bool
    label_smoothing: float
    batch_transform: BatchTransform | None
    builder: str
    summary: str


def _lazy(target: str) -> BatchTransform:
    module, attr = target.split(":")

    def call(x: torch.Tensor, y: torch.Tensor,
             num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
        fn = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        return fn(x, y, num_classes)

    call.__name__ = attr
    call.__qualname__ = attr
    call.__doc__ = f"Lazily imported :func:`{__package__}.{module}.{attr}`."
    return call


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", 10, (8,), 8, False, 0.0, None, "digits:build_digits",
                    "scikit-learn's bundled 8x8 digits, columns as time (mode='pixels': T=64, 1)"),
        DatasetInfo("shd", 20, (140,), 140, True, 0.0, None, "shd:build_shd",
                    "Spiking Heidelberg Digits via Tonic, 10 ms bins, 700 channels summed by 5"),
        DatasetInfo("dvs-lip", 100, (2, 88, 88), 90, False, 0.0, None, "dvs_lip:build_dvs_lip",
                    "DVS-Lip via Tonic, T event frames (default 90), crop 88x88"),
        DatasetInfo("scifar10", 10, (3, 32), 32, False, 0.1,
                    _lazy("mixing:mix_sequential_cifar"), "cifar:build_scifar10",
                    "CIFAR-10, image columns as time, 3 channels x 32 rows per step"),
        DatasetInfo("scifar100", 100, (3, 32), 32, False, 0.1,
                    _lazy("mixing:mix_sequential_cifar"), "cifar:build_scifar100",
                    "CIFAR-100, image columns as time, 3 channels x 32 rows per step"),
        DatasetInfo("pcifar10", 10, (3,), 1024, False, 0.1,
                    _lazy("mixing:mix_pixel_cifar"), "cifar:build_pcifar10",
                    "CIFAR-10, pixels in row-major order as time, 3 channels per step"),
    )
}


def build_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    augment: bool | None = None,
    **options: object,
) -> TimeFirstDataset:
    """Build one split of a data set as time-first ``(x [T, *features], label)`` samples.

    Args:
        name: a key of :data:`DATASETS`: ``digits``, ``shd``, ``dvs-lip``, ``scifar10``,
            ``scifar100`` or ``pcifar10``.
        root: the folder holding the data (ignored by ``digits``, which ships with
            scikit-learn). The loaders never download unless given ``download=True`` where the
            underlying library supports it.
        split: ``"train"`` or ``"test"``.
        augment: run the per-sample training augmentations; ``None`` means ``split == "train"``.
        **options: loader-specific options (see each builder, e.g. ``mode="pixels"`` for digits,
            ``T=`` and ``cache_dir=`` for DVS-Lip).

    Returns:
        A dataset whose ``collate_fn`` stacks items into ``(x [T, N, *features], labels [N])``.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> ds = build_dataset("digits", split="test")
        >>> x, y = next(iter(DataLoader(ds, batch_size=4, collate_fn=ds.collate_fn)))
        >>> tuple(x.shape), y.dtype
        ((8, 4, 8), torch.int64)
    """
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {sorted(DATASETS)}, got {name!r}")
    split = check_split(split)
    if augment is None:
        augment = split == "train"
    return dataset_builder(name)(root=root, split=split, augment=bool(augment), **options)


def dataset_builder(name: str) -> Callable[..., TimeFirstDataset]:
    """The function :func:`build_dataset` calls for the registered data set ``name`` (its
    ``DatasetInfo.builder``, ``"module:function"``, imported on first use).

    Example:
        >>> dataset_builder("digits").__name__
        'build_digits'
    """
    module, attr = DATASETS[name].builder.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), attr)
