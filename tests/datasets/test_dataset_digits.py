"""The bundled digits loader: shapes, labels, the deterministic split, augmentation."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from spikingjelly_mulfree.datasets import DATASETS, build_dataset
from spikingjelly_mulfree.datasets.digits import split_indices


@pytest.mark.parametrize("mode, shape", [("columns", (8, 8)), ("pixels", (64, 1))])
def test_shapes_dtype_range(mode, shape):
    ds = build_dataset("digits", split="test", augment=False, mode=mode)
    x, y = ds[5]
    assert tuple(x.shape) == shape and x.dtype == torch.float32
    assert isinstance(y, int) and 0 <= y < DATASETS["digits"].num_classes
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_columns_are_time():
    cols = build_dataset("digits", split="test", augment=False)
    pix = build_dataset("digits", split="test", augment=False, mode="pixels")
    image = pix[7][0].reshape(8, 8)
    assert torch.equal(cols[7][0], image.t())


def test_split_sizes_disjoint_and_stratified():
    from sklearn.datasets import load_digits
    labels = load_digits().target
    train, test = split_indices(labels, "train"), split_indices(labels, "test")
    assert len(train) + len(test) == len(labels) == 1797
    assert len(set(train) & set(test)) == 0
    assert len(build_dataset("digits", split="train")) == len(train) == 1438
    assert len(build_dataset("digits", split="test")) == len(test) == 359
    per_class = np.bincount(labels[test], minlength=10)
    assert per_class.min() >= 35 and per_class.max() <= 37


def test_deterministic_without_augment():
    a = build_dataset("digits", split="train", augment=False)
    b = build_dataset("digits", split="train", augment=False)
    for i in (0, 100, 1437):
        assert torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1]


def test_augment_shifts_by_at_most_one_pixel():
    plain = build_dataset("digits", split="train", augment=False)
    aug = build_dataset("digits", split="train", augment=True)
    assert aug.augment and not build_dataset("digits", split="test").augment
    changed = 0
    for i in range(20):
        x, y = aug[i]
        assert y == plain[i][1] and x.shape == (8, 8)
        base = plain[i][0]
        padded = torch.nn.functional.pad(base, (1, 1, 1, 1))
        shifts = [torch.roll(padded, (a, b), (0, 1))[1:-1, 1:-1]
                  for a in (-1, 0, 1) for b in (-1, 0, 1)]
        assert any(torch.equal(x, s) for s in shifts)
        changed += not torch.equal(x, base)
    assert changed > 0


def test_loader_batches():
    ds = build_dataset("digits", split="test", augment=False)
    x, y = next(iter(DataLoader(ds, batch_size=16, collate_fn=ds.collate_fn)))
    assert x.shape == (8, 16, 8) and y.shape == (16,) and y.dtype == torch.long


def test_bad_mode_names_argument():
    with pytest.raises(ValueError, match="mode"):
        build_dataset("digits", mode="rows")
