"""SHD through Tonic from synthetic .h5 files with the released keys."""
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from spikingjelly_mulfree.datasets import (DATASETS, CorruptDatasetError, DatasetNotFoundError,
                                           build_dataset)


def test_frames_shape_labels_and_binning(shd_root):
    ds = build_dataset("shd", root=shd_root, split="train", augment=False)
    assert len(ds) == 6 and len(build_dataset("shd", root=shd_root, split="test")) == 4
    for i in range(6):
        x, y = ds[i]
        assert x.dtype == torch.float32 and x.shape == (30 + 10 * i, 140) and y == i
        assert float(x.sum()) == 200 + 10 * i and x[0, i] >= 1
    assert DATASETS["shd"].feature_shape == (140,)


def test_no_zip_needed_and_nothing_downloaded(shd_root):
    build_dataset("shd", root=shd_root, split="train")
    assert sorted(os.listdir(shd_root / "SHD")) == ["shd_test.h5", "shd_train.h5"]


def test_augment_keeps_shape_and_changes_counts(shd_root):
    np.random.seed(0)
    plain = build_dataset("shd", root=shd_root, split="train", augment=False)
    aug = build_dataset("shd", root=shd_root, split="train", augment=True)
    x, y = aug[3]
    ref = plain[3][0]
    assert y == 3 and x.shape[1] == 140 and x.dtype == torch.float32
    assert ref.shape[0] - 3 <= x.shape[0] <= ref.shape[0]
    total = float(x.sum())
    assert total != float(ref.sum())
    assert 230 * 0.95 - 12 <= total <= 230 + 35


def test_padding_collate(shd_root):
    ds = build_dataset("shd", root=shd_root, split="train", augment=False)
    x, y = next(iter(DataLoader(ds, batch_size=3, collate_fn=ds.collate_fn)))
    assert x.shape == (50, 3, 140) and y.tolist() == [0, 1, 2]
    assert x[30:, 0].sum() == 0 and torch.equal(x[:40, 1], ds[1][0])


def test_fixed_length(shd_root):
    ds = build_dataset("shd", root=shd_root, split="test", augment=False, T=35)
    assert [tuple(ds[i][0].shape) for i in range(4)] == [(35, 140)] * 4
    x, _ = ds.collate_fn([ds[0], ds[3]])
    assert x.shape == (35, 2, 140)


def test_missing_file_names_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        build_dataset("shd", root=tmp_path, split="test")
    message = str(info.value)
    assert str(tmp_path / "SHD" / "shd_test.h5") in message and "zenkelab" in message
    assert not (tmp_path / "SHD" / "shd_test.h5.zip").exists()


def test_truncated_file_is_named(shd_root):
    path = shd_root / "SHD" / "shd_train.h5"
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(CorruptDatasetError, match="shd_train.h5"):
        build_dataset("shd", root=shd_root, split="train")


def test_wrong_keys_are_named(tmp_path):
    import h5py
    (tmp_path / "SHD").mkdir()
    with h5py.File(tmp_path / "SHD" / "shd_test.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(3, dtype=np.uint16))
    with pytest.raises(CorruptDatasetError, match="spikes/times"):
        build_dataset("shd", root=tmp_path, split="test")


def test_bad_T(shd_root):
    with pytest.raises(ValueError, match="T: expected"):
        build_dataset("shd", root=shd_root, T=0)


def test_archive_only_is_extracted_locally(tmp_path, shd_root):
    import zipfile
    folder = tmp_path / "SHD"
    with zipfile.ZipFile(folder / "shd_test.h5.zip", "w") as z:
        z.write(folder / "shd_test.h5", "shd_test.h5")
    (folder / "shd_test.h5").unlink()
    ds = build_dataset("shd", root=tmp_path, split="test", augment=False)
    assert len(ds) == 4 and (folder / "shd_test.h5").is_file() and ds[2][1] == 2


def test_corrupt_archive_is_named(tmp_path):
    (tmp_path / "SHD").mkdir()
    (tmp_path / "SHD" / "shd_train.h5.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptDatasetError, match="shd_train.h5.zip"):
        build_dataset("shd", root=tmp_path, split="train")


def test_slightly_truncated_file_is_named(shd_root):
    path = shd_root / "SHD" / "shd_test.h5"
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(CorruptDatasetError, match="shd_test.h5"):
        build_dataset("shd", root=shd_root, split="test")


def test_a_failed_download_says_so(tmp_path, offline):
    from tonic.datasets import SHD

    offline(SHD)
    with pytest.raises(DatasetNotFoundError, match=r"download=True failed \(<urlopen error no "
                                                   r"network>\): fetch the files by hand"):
        build_dataset("shd", root=tmp_path, split="test", download=True)
