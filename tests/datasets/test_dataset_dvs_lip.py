"""DVS-Lip through Tonic from a synthetic tree of 100 words of .npy event clips."""
import numpy as np
import pytest
import torch
from tonic.datasets import DVSLip

from spikingjelly_mulfree.datasets import CorruptDatasetError, DatasetNotFoundError, build_dataset
from spikingjelly_mulfree.datasets import dvs_lip


def test_test_split_frames_labels_and_counts(lip_root, tmp_path):
    ds = build_dataset("dvs-lip", root=lip_root, split="test", augment=False, T=12,
                       cache_dir=tmp_path)
    assert len(ds) == 100
    for i in (0, 57, 99):
        x, y = ds[i]
        assert x.shape == (12, 2, 88, 88) and x.dtype == torch.float32
        assert y == DVSLip.classes.index(ds._events.data[i].split("/")[-2])
        assert float(x.abs().sum()) == 300 and float(x[:, 0].min()) >= 0
        assert float(x[:, 1].max()) <= 0 and bool((x[0] != 0).any())
    assert sorted(ds.targets) == list(range(100))


def test_counts_representation_matches_events(lip_root, tmp_path):
    counts = build_dataset("dvs-lip", root=lip_root, split="test", augment=False, T=12,
                           polarity="counts", cache_dir=tmp_path)
    signed = build_dataset("dvs-lip", root=lip_root, split="test", augment=False, T=12,
                           cache_dir=tmp_path)
    x, _ = counts[4]
    events = np.load(counts._events.data[4])
    assert float(x.min()) >= 0 and float(x[:, 1].sum()) == int(events["p"].sum())
    assert torch.equal(signed[4][0], torch.stack([x[:, 1], -x[:, 0]], dim=1))
    with pytest.raises(ValueError, match="polarity"):
        build_dataset("dvs-lip", root=lip_root, polarity="on-off")


def test_default_T_and_collate(lip_root, tmp_path):
    ds = build_dataset("dvs-lip", root=lip_root, split="train", cache_dir=tmp_path)
    assert ds.augment and ds.T == 90
    x, y = ds.collate_fn([ds[0], ds[1], ds[2]])
    assert x.shape == (90, 3, 2, 88, 88) and y.dtype == torch.long


def test_augment_shapes_and_label(lip_root, tmp_path):
    plain = build_dataset("dvs-lip", root=lip_root, split="train", augment=False, T=20,
                          cache_dir=tmp_path)
    aug = build_dataset("dvs-lip", root=lip_root, split="train", augment=True, T=20,
                        cache_dir=tmp_path)
    differs = 0
    for i in range(6):
        x, y = aug[i]
        assert x.shape == (20, 2, 88, 88) and y == plain[i][1]
        assert float(x[:, 0].min()) >= 0 and float(x[:, 1].max()) <= 0
        differs += not torch.equal(x, plain[i][0])
    assert differs > 0


def test_cache_is_reused_and_invalidated(lip_root, tmp_path, monkeypatch):
    ds = build_dataset("dvs-lip", root=lip_root, split="test", augment=False, T=8,
                       cache_dir=tmp_path)
    first = ds[3][0]
    cached = list((tmp_path / "test").rglob("*.npz"))
    assert len(cached) == 1

    def no_binning(*args, **kwargs):
        raise AssertionError("re-binned although the cache is valid")

    monkeypatch.setattr(dvs_lip, "events_to_frames", no_binning)
    assert torch.equal(ds[3][0], first)
    with pytest.raises(AssertionError, match="re-binned"):
        build_dataset("dvs-lip", root=lip_root, split="test", augment=False, T=9,
                      cache_dir=tmp_path)[3]


def test_no_cache_writes_nothing(lip_root, tmp_path):
    ds = build_dataset("dvs-lip", root=lip_root, split="test", augment=False, T=5,
                       cache=False, cache_dir=tmp_path)
    assert ds[0][0].shape == (5, 2, 88, 88) and not any(tmp_path.iterdir())


def test_missing_tree_names_path(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        build_dataset("dvs-lip", root=tmp_path, split="train")
    message = str(info.value)
    assert str(tmp_path / "DVSLip" / "DVS-Lip" / "train") in message
    assert "DVS-Lip.zip" in message and "google" in message.lower()


def test_too_few_clips_raises_instead_of_exit(tmp_path, make_dvs_lip):
    make_dvs_lip(tmp_path, splits=("test",), words=40)
    with pytest.raises(DatasetNotFoundError, match="found 40 .npy clips"):
        build_dataset("dvs-lip", root=tmp_path, split="test")


def test_truncated_clip_is_named(tmp_path, make_dvs_lip):
    base = make_dvs_lip(tmp_path, splits=("test",), events=50)
    bad = base / "test" / "accused" / "0.npy"
    bad.write_bytes(bad.read_bytes()[:150])
    ds = build_dataset("dvs-lip", root=tmp_path, split="test", augment=False, T=4)
    index = ds._events.data.index(str(bad))
    with pytest.raises(CorruptDatasetError, match="accused/0.npy"):
        ds[index]


def test_bad_T(lip_root):
    with pytest.raises(ValueError, match="T: expected"):
        build_dataset("dvs-lip", root=lip_root, T=0)


def test_events_to_frames_counts_everything_within_the_clip():
    ev = np.zeros(1000, dtype=DVSLip.dtype)
    rng = np.random.default_rng(0)
    ev["t"] = np.sort(rng.integers(0, 1_200_000, 1000))
    ev["x"], ev["y"] = rng.integers(0, 128, 1000), rng.integers(0, 128, 1000)
    ev["p"] = rng.integers(0, 2, 1000).astype(bool)
    frames = dvs_lip.events_to_frames(ev, 6)
    kept = ev["t"] < 1_100_000
    assert frames.shape == (6, 2, 128, 128) and frames.sum() == kept.sum()
    assert frames[:, 1].sum() == ev["p"][kept].sum()
    assert frames[0].sum() == (ev["t"] < 100_000).sum()


def test_unwritable_cache_warns_and_continues(lip_root, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should go")
    ds = build_dataset("dvs-lip", root=lip_root, split="test", augment=False, T=12,
                       cache_dir=blocker)
    with pytest.warns(RuntimeWarning, match="cache_dir="):
        x, _ = ds[1]
    assert x.shape == (12, 2, 88, 88) and ds.cache_dir is None and float(x.abs().sum()) == 300


def test_unknown_word_folder_is_named(tmp_path, make_dvs_lip):
    base = make_dvs_lip(tmp_path, splits=("test",), events=10)
    (base / "test" / "notaword").mkdir()
    with pytest.raises(DatasetNotFoundError, match="notaword"):
        build_dataset("dvs-lip", root=tmp_path, split="test")


def test_a_hidden_entry_in_a_split_folder_is_named(tmp_path, make_dvs_lip):
    """Tonic reads every entry but .DS_Store as a word ('._accused' is not in list)."""
    base = make_dvs_lip(tmp_path, splits=("test",), events=10)
    (base / "test" / "._accused").write_bytes(b"AppleDouble")
    with pytest.raises(DatasetNotFoundError, match=r"\._accused.*remove it"):
        build_dataset("dvs-lip", root=tmp_path, split="test")


def test_a_clip_of_another_layout_is_named(tmp_path, make_dvs_lip):
    base = make_dvs_lip(tmp_path, splits=("test",), events=10)
    bad = base / "test" / "accused" / "0.npy"
    np.save(bad, np.zeros((10, 4)))
    ds = build_dataset("dvs-lip", root=tmp_path, split="test", augment=False, T=4, cache=False)
    with pytest.raises(CorruptDatasetError, match="accused/0.npy"):
        ds[ds._events.data.index(str(bad))]


def test_a_corrupt_zip_is_named(tmp_path):
    (tmp_path / "DVSLip").mkdir()
    (tmp_path / "DVSLip" / "DVS-Lip.zip").write_bytes(b"junk")
    with pytest.raises(CorruptDatasetError, match=r"DVS-Lip.zip: cannot read this data file"):
        build_dataset("dvs-lip", root=tmp_path, split="test")


def test_a_zip_without_the_split_says_what_is_missing(tmp_path, make_dvs_lip):
    import shutil

    make_dvs_lip(tmp_path / "src", splits=("train",), events=10)
    (tmp_path / "DVSLip").mkdir()
    shutil.make_archive(str(tmp_path / "DVSLip" / "DVS-Lip"), "zip",
                        root_dir=tmp_path / "src" / "DVSLip", base_dir="DVS-Lip")
    with pytest.raises(DatasetNotFoundError, match=r"DVS-Lip/test"):
        build_dataset("dvs-lip", root=tmp_path, split="test")
