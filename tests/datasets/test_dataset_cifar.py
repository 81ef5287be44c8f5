"""Sequential and pixel CIFAR from synthetic torchvision-format pickles."""
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from spikingjelly_mulfree.datasets import (DATASETS, CorruptDatasetError, DatasetNotFoundError,
                                           build_dataset)
from spikingjelly_mulfree.datasets.cifar import MEAN_STD


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("name, shape", [("scifar10", (32, 3, 32)), ("pcifar10", (1024, 3))])
def test_cifar10_readings(cifar10_root, name, shape, augment):
    train = build_dataset(name, root=cifar10_root, split="train", augment=augment)
    test = build_dataset(name, root=cifar10_root, split="test", augment=augment)
    assert len(train) == 30 and len(test) == 6
    x, y = train[7]
    assert tuple(x.shape) == shape and x.dtype == torch.float32 and y == 7
    assert test[3][1] == (5 * 6 + 3) % 10
    xb, yb = next(iter(DataLoader(train, batch_size=4, collate_fn=train.collate_fn)))
    assert xb.shape == (shape[0], 4, *shape[1:]) and yb.tolist() == [0, 1, 2, 3]


def test_sequence_matches_normalised_image(cifar10_root):
    seq = build_dataset("scifar10", root=cifar10_root, split="test", augment=False)
    pix = build_dataset("pcifar10", root=cifar10_root, split="test", augment=False)
    with open(cifar10_root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="latin1")["data"][2].reshape(3, 32, 32)
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in MEAN_STD[10])
    img = (torch.from_numpy(raw).float() / 255 - mean) / std
    torch.testing.assert_close(seq[2][0], img.permute(2, 0, 1))
    torch.testing.assert_close(pix[2][0], img.reshape(3, 1024).t())


def test_cifar100(cifar100_root):
    ds = build_dataset("scifar100", root=cifar100_root, split="train", augment=True)
    x, y = ds[5]
    assert x.shape == (32, 3, 32) and y == 5 and DATASETS["scifar100"].num_classes == 100


@pytest.mark.parametrize("name", ["scifar10", "pcifar10"])
def test_batch_transform_soft_labels(cifar10_root, name):
    ds = build_dataset(name, root=cifar10_root, split="train")
    x, y = ds.collate_fn([ds[i] for i in range(8)])
    info = DATASETS[name]
    for _ in range(4):
        xm, soft = info.batch_transform(x, y, info.num_classes)
        assert xm.shape == x.shape and soft.shape == (8, 10)
        torch.testing.assert_close(soft.sum(1), torch.ones(8))
        partner = y.roll(1, 0)
        allowed = torch.nn.functional.one_hot(y, 10) + torch.nn.functional.one_hot(partner, 10)
        assert soft[allowed == 0].abs().max() == 0
        assert soft.gather(1, y[:, None]).min() > 0 or soft.gather(1, partner[:, None]).min() > 0
        assert not torch.equal(xm, x)


def test_missing_names_path_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        build_dataset("scifar10", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "data_batch_1" in message
    assert "cs.toronto.edu" in message and "download=True" in message


def test_truncated_pickle_is_named(cifar10_root):
    path = cifar10_root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CorruptDatasetError, match="data_batch_3"):
        build_dataset("scifar10", root=cifar10_root, split="train")
    assert len(build_dataset("scifar10", root=cifar10_root, split="test")) == 6


def test_label_count_mismatch_is_named(cifar100_root):
    path = cifar100_root / "cifar-100-python" / "test"
    with open(path, "rb") as f:
        entry = pickle.load(f)
    entry["fine_labels"] = entry["fine_labels"][:-1]
    with open(path, "wb") as f:
        pickle.dump(entry, f)
    with pytest.raises(CorruptDatasetError, match="cifar-100-python/test"):
        build_dataset("scifar100", root=cifar100_root, split="test")


@pytest.mark.parametrize("label", [10, -1])
def test_a_label_outside_the_classes_is_named(cifar10_root, label):
    """It passed the check and failed in the loss (IndexError: Target 10 is out of bounds)."""
    path = cifar10_root / "cifar-10-batches-py" / "test_batch"
    with open(path, "rb") as f:
        entry = pickle.load(f)
    entry["labels"][0] = label
    with open(path, "wb") as f:
        pickle.dump(entry, f)
    with pytest.raises(CorruptDatasetError, match=rf"test_batch: .*labels outside 0..9: "
                                                  rf"\[{label}\]"):
        build_dataset("scifar10", root=cifar10_root, split="test")


def test_check_md5_rejects_synthetic_files(cifar10_root):
    with pytest.raises(CorruptDatasetError, match=r"cifar-10-batches-py: a file's checksum "
                                                  r"does not match torchvision's.*leave "
                                                  r"check_md5 off"):
        build_dataset("scifar10", root=cifar10_root, split="test", check_md5=True)


@pytest.mark.gpu
@pytest.mark.parametrize("name, shape", [("scifar10", (32, 4, 3, 32)), ("pcifar10", (1024, 4, 3))])
def test_batch_transform_on_cuda(name, shape):
    x = torch.rand(shape, device="cuda")
    y = torch.tensor([0, 1, 2, 3], device="cuda")
    xm, soft = DATASETS[name].batch_transform(x, y, 10)
    assert xm.device == x.device and soft.device == x.device and xm.shape == x.shape
    torch.testing.assert_close(soft.sum(1), torch.ones(4, device="cuda"))


def test_a_failed_download_says_so(tmp_path, offline):
    """Offline, download=True raised urllib's URLError as a traceback."""
    from torchvision.datasets import CIFAR10

    offline(CIFAR10)
    with pytest.raises(DatasetNotFoundError, match=r"download=True failed \(<urlopen error no "
                                                   r"network>\): fetch it by hand"):
        build_dataset("scifar10", root=tmp_path, split="test", download=True)
