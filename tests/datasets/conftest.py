"""Writers of small synthetic data sets in the real on-disk formats (never the network)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest


def write_cifar(root: Path, num_classes: int = 10, per_file: int = 6) -> Path:
    """CIFAR pickles as torchvision reads them; labels cycle through the classes."""
    rng = np.random.default_rng(0)
    if num_classes == 10:
        folder = root / "cifar-10-batches-py"
        names, label_key = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], "labels"
        meta_name, meta = "batches.meta", {"label_names": [f"class{i}" for i in range(10)]}
    else:
        folder = root / "cifar-100-python"
        names, label_key = ["train", "test"], "fine_labels"
        meta_name, meta = "meta", {"fine_label_names": [f"class{i}" for i in range(100)],
                                   "coarse_label_names": [f"super{i}" for i in range(20)]}
    folder.mkdir(parents=True)
    for k, name in enumerate(names):
        labels = [(k * per_file + i) % num_classes for i in range(per_file)]
        entry = {"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8),
                 label_key: labels, "filenames": [f"{name}_{i}.png" for i in range(per_file)]}
        if num_classes == 100:
            entry["coarse_labels"] = [y // 5 for y in labels]
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    with open(folder / meta_name, "wb") as f:
        pickle.dump(meta, f)
    return folder


@pytest.fixture
def cifar10_root(tmp_path: Path) -> Path:
    write_cifar(tmp_path, 10)
    return tmp_path


@pytest.fixture
def cifar100_root(tmp_path: Path) -> Path:
    write_cifar(tmp_path, 100)
    return tmp_path
