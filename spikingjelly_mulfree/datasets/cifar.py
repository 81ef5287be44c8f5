"""CIFAR-10/100 read as sequences, from the standard python-pickle folders via torchvision.

Layouts (``root`` is the folder that *contains* the data folder)::

    root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    root/cifar-100-python/{train, test, meta}

Nothing is downloaded unless ``download=True`` (torchvision's downloader). File checksums are not
verified by default (a checksum pass over 170 MB runs at every start); ``check_md5=True`` turns
it on. A file that cannot be unpickled, or whose data and labels disagree, raises
:class:`~spikingjelly_mulfree.datasets.errors.CorruptDatasetError` naming it.

Per-sample transform order (torchvision ``transforms.v2``), training with ``augment=True``:
random horizontal flip (p 0.5; in the sequential reading this reverses time), TrivialAugmentWide
(bilinear), conversion to float in [0, 1], per-channel normalisation, random erasing (p 0.1).
The normalisation constants are those of the sequential-CIFAR reference code of the parallel
spiking neuron (PSN) that the paper builds on. Without
augmentation: conversion and normalisation only. MixUp/CutMix act on whole batches: see
:mod:`.mixing` and ``DATASETS[name].batch_transform``. Pixel CIFAR-10 uses the same recipe
(**decision**: the paper's notes list augmentations for sequential CIFAR only).

Sequence readings of the normalised image ``img [3, 32 rows, 32 columns]``:

* sequential (``scifar10``, ``scifar100``): step ``t`` is column ``t``: ``x [32, 3, 32]``
  with ``x[t, c, r] = img[c, r, t]``.
* pixel (``pcifar10``): the 1024 pixels in row-major order: ``x [1024, 3]`` with
  ``x[32 r + w, c] = img[c, r, w]``.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable

import numpy as np
import torch

from .base import TimeFirstDataset
from .errors import CorruptDatasetError, corrupt, missing, require_root

try:
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.transforms import v2
except ImportError as err:
    raise ImportError("the CIFAR loaders need torchvision: pip install torchvision") from err

MEAN_STD = {
    10: ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    100: ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
READINGS = ("sequential", "pixel")


def image_transform(num_classes: int, augment: bool) -> Callable:
    """The per-sample torchvision pipeline (see the module docstring for the order)."""
    mean, std = MEAN_STD[num_classes]
    steps = [v2.RandomHorizontalFlip(0.5),
             v2.TrivialAugmentWide(interpolation=v2.InterpolationMode.BILINEAR)] if augment else []
    steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if augment:
        steps.append(v2.RandomErasing(p=0.1))
    return v2.Compose(steps)


def to_sequence(img: torch.Tensor, reading: str) -> torch.Tensor:
    """``img [3, 32, 32]`` -> ``[32, 3, 32]`` (sequential) or ``[1024, 3]`` (pixel).

    Example:
        >>> import torch
        >>> img = torch.arange(3 * 32 * 32.).reshape(3, 32, 32)
        >>> to_sequence(img, "sequential")[5, 1, 2] == img[1, 2, 5]
        tensor(True)
        >>> to_sequence(img, "pixel")[32 * 2 + 5, 1] == img[1, 2, 5]
        tensor(True)
    """
    if reading == "sequential":
        return img.permute(2, 0, 1).contiguous()
    return img.reshape(img.shape[0], -1).t().contiguous()


def _layout(num_classes: int) -> tuple[str, list[str], str]:
    if num_classes == 10:
        return ("cifar-10-batches-py",
                ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch", "batches.meta"],
                "https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 python version)")
    return ("cifar-100-python", ["train", "test", "meta"],
            "https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-100 python version)")


class _NoChecksum:
    """Mixin: accept files without torchvision's MD5 pass (corruption is caught on unpickling)."""

    def _check_integrity(self) -> bool:
        return True

    def _load_meta(self) -> None:
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        with open(path, "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


class UncheckedCIFAR10(_NoChecksum, CIFAR10):
    """torchvision's CIFAR10 without the checksum pass."""


class UncheckedCIFAR100(_NoChecksum, CIFAR100):
    """torchvision's CIFAR100 without the checksum pass."""


_UNCHECKED = {CIFAR10: UncheckedCIFAR10, CIFAR100: UncheckedCIFAR100}


def _find_bad_file(folder: str, names: list[str], num_classes: int
                   ) -> tuple[str, Exception] | None:
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            if "data" in entry:
                labels = entry.get("labels", entry.get("fine_labels"))
                data = np.asarray(entry["data"])
                if labels is None or data.ndim != 2 or data.shape != (len(labels), 3072):
                    raise ValueError(f"'data' has shape {data.shape} for "
                                     f"{None if labels is None else len(labels)} labels, "
                                     "expected [labels, 3072]")
                outside = [y for y in labels if not 0 <= y < num_classes]
                if outside:
                    raise ValueError(f"labels outside 0..{num_classes - 1}: {outside[:5]}")
        except Exception as err:  # any failure to read the pickle means the file is bad
            return path, err
    return None


class SequentialCIFAR(TimeFirstDataset):
    """CIFAR-10/100 images as time-first sequences (see the module docstring).

    Args:
        root: the folder containing ``cifar-10-batches-py`` / ``cifar-100-python``.
        num_classes: 10 or 100.
        reading: ``"sequential"`` (columns as time) or ``"pixel"`` (pixels as time).
        split: ``"train"`` or ``"test"``.
        augment: the per-sample training augmentations.
        download: let torchvision download the archive when it is missing.
        check_md5: verify torchvision's checksums of every file.

    Example:
        >>> ds = SequentialCIFAR("~/data", 10, "sequential", "test")  # doctest: +SKIP
        >>> x, y = ds[0]; tuple(x.shape)  # doctest: +SKIP
        (32, 3, 32)
    """

    def __init__(self, root: str | os.PathLike | None, num_classes: int, reading: str,
                 split: str = "train", augment: bool = False, download: bool = False,
                 check_md5: bool = False, name: str | None = None) -> None:
        if num_classes not in MEAN_STD:
            raise ValueError(f"num_classes: expected 10 or 100, got {num_classes!r}")
        if reading not in READINGS:
            raise ValueError(f"reading: expected one of {READINGS}, got {reading!r}")
        name = name or f"{'s' if reading == 'sequential' else 'p'}cifar{num_classes}"
        super().__init__(name, split, augment, num_classes,
                         (3, 32) if reading == "sequential" else (3,))
        root = require_root(name, root)
        folder_name, files, source = _layout(num_classes)
        folder = os.path.join(root, folder_name)
        base = CIFAR10 if num_classes == 10 else CIFAR100
        if download:
            try:
                base(root, train=split == "train", download=True)
            except OSError as err:  # no network (urllib's URLError is an OSError), a full disk
                raise missing(name, os.path.join(folder, files[0]), f"{root}/{folder_name}/",
                              source, f"download=True failed ({err}): fetch it by hand") from err
        absent = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
        if absent:
            raise missing(name, os.path.join(folder, absent[0]),
                          f"{root}/{folder_name}/\n" + "\n".join(f"    {f}" for f in files),
                          source, f"or pass download=True to let torchvision fetch it into {root}")
        self.reading = reading
        self.transform = image_transform(num_classes, self.augment)
        self._images = self._load(base, root, folder, files, check_md5)

    def _load(self, base: type, root: str, folder: str, files: list[str], check_md5: bool):
        cls = base if check_md5 else _UNCHECKED[base]
        try:
            data = cls(root, train=self.split == "train", download=False)
            if len(data.data) != len(data.targets):
                raise ValueError(f"{len(data.data)} images but {len(data.targets)} labels")
            if not all(0 <= y < self.num_classes for y in data.targets):
                raise ValueError(f"labels outside 0..{self.num_classes - 1}")
        except Exception as err:  # find which file failed, then name it
            bad = _find_bad_file(folder, files, self.num_classes)
            if bad is not None:
                raise corrupt(*bad) from err
            if check_md5 and isinstance(err, RuntimeError):
                raise CorruptDatasetError(
                    f"{folder}: a file's checksum does not match torchvision's, so the copy "
                    "differs from the released one: copy the files again (or delete the folder "
                    "and pass download=True), or leave check_md5 off to use them as they are"
                ) from err
            raise
        return data

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img, label = self._images[index]
        x = self.transform(img).as_subclass(torch.Tensor)
        return to_sequence(x, self.reading), int(label)


def build_scifar10(root: str | os.PathLike | None = None, split: str = "train",
                   augment: bool = False, **options: object) -> SequentialCIFAR:
    """Registry builder for ``"scifar10"``: ``x [32, 3, 32]``, 10 classes."""
    return SequentialCIFAR(root, 10, "sequential", split, augment, **options)


def build_scifar100(root: str | os.PathLike | None = None, split: str = "train",
                    augment: bool = False, **options: object) -> SequentialCIFAR:
    """Registry builder for ``"scifar100"``: ``x [32, 3, 32]``, 100 classes."""
    return SequentialCIFAR(root, 100, "sequential", split, augment, **options)


def build_pcifar10(root: str | os.PathLike | None = None, split: str = "train",
                   augment: bool = False, **options: object) -> SequentialCIFAR:
    """Registry builder for ``"pcifar10"``: ``x [1024, 3]``, 10 classes."""
    return SequentialCIFAR(root, 10, "pixel", split, augment, **options)
