"""Time-first data loaders for the paper's benchmarks.

``build_dataset(name, root, split, augment, **options)`` returns a dataset of
``(x [T, *features] float32, label int)`` with a ``collate_fn`` producing
``(x [T, N, *features], labels [N] int64)``; :data:`DATASETS` holds each data set's metadata
(classes, feature shape, default ``T``, label smoothing, batch-level MixUp/CutMix).
"""
from .base import TimeFirstDataset
from .collate import pad_time_first, stack_time_first
from .errors import CorruptDatasetError, DatasetNotFoundError
from .registry import DATASETS, DatasetInfo, build_dataset

__all__ = [
    "DATASETS", "DatasetInfo", "TimeFirstDataset", "build_dataset", "pad_time_first",
    "stack_time_first", "DatasetNotFoundError", "CorruptDatasetError",
]
