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


def write_shd(root: Path, split: str, n: int = 6) -> Path:
    """``root/SHD/shd_{split}.h5`` with the keys of the released files; sample ``i`` has label
    ``i % 20``, lasts ``0.3 + 0.1 * i`` s and fires channel ``5 * i`` at t = 0."""
    import h5py

    rng = np.random.default_rng(1)
    folder = root / "SHD"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shd_{split}.h5"
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            count = 200 + 10 * i
            t = np.sort(rng.uniform(0, 0.3 + 0.1 * i, count)).astype(np.float32)
            t[0], t[-1] = 0.0, 0.3 + 0.1 * i - 1e-4
            u = rng.integers(0, 700, count).astype(np.uint16)
            u[0] = 5 * i
            times[i], units[i] = t, u
        f.create_dataset("labels", data=np.arange(n, dtype=np.uint16) % 20)
        f.create_dataset("extra/keys", data=np.array([f"word{k}".encode() for k in range(20)]))
        f.create_dataset("extra/speaker", data=np.zeros(n, dtype=np.uint16))
    return path


@pytest.fixture
def shd_root(tmp_path: Path) -> Path:
    write_shd(tmp_path, "train")
    write_shd(tmp_path, "test", n=4)
    return tmp_path


LIP_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])


def write_dvs_lip(root: Path, splits=("train", "test"), clips_per_word: int = 1,
                  words: int = 100, events: int = 300) -> Path:
    """``root/DVSLip/DVS-Lip/<split>/<word>/<n>.npy`` for the first ``words`` Tonic words; all
    events fall inside the central 60 x 60 pixels and the first 1.1 s, so no crop or frame
    limit removes any."""
    from tonic.datasets import DVSLip

    rng = np.random.default_rng(2)
    base = root / "DVSLip" / "DVS-Lip"
    for split in splits:
        for word in DVSLip.classes[:words]:
            folder = base / split / word
            folder.mkdir(parents=True)
            for n in range(clips_per_word):
                ev = np.zeros(events, dtype=LIP_DTYPE)
                ev["t"] = np.sort(rng.integers(0, 1_100_000, events))
                ev["x"] = rng.integers(34, 94, events)
                ev["y"] = rng.integers(34, 94, events)
                ev["p"] = rng.integers(0, 2, events)
                np.save(folder / f"{n}.npy", ev)
    return base


@pytest.fixture(scope="module")
def lip_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lip")
    write_dvs_lip(root)
    return root


@pytest.fixture
def make_dvs_lip():
    """The :func:`write_dvs_lip` writer, for tests that need a tree of their own."""
    return write_dvs_lip


@pytest.fixture
def offline(monkeypatch):
    """``offline(cls)``: make ``cls.download`` fail as urllib does without a network."""
    import urllib.error

    def patch(cls):
        def download(self):
            raise urllib.error.URLError("no network")

        monkeypatch.setattr(cls, "download", download)

    return patch
