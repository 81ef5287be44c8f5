"""Frame (DVS-Lip) and event (SHD) augmentation building blocks."""
import numpy as np
import pytest
import torch

from spikingjelly_mulfree.datasets import event_augment as ea
from spikingjelly_mulfree.datasets import frame_augment as fa

EVENTS = np.dtype([("t", int), ("x", int), ("p", int)])


def test_lip_augment_leaves_input_and_keeps_shape():
    x = torch.rand(12, 2, 96, 96) + 0.5
    before = x.clone()
    for _ in range(5):
        out = fa.LipReadingAugment(train=True)(x)
        assert out.shape == (12, 2, 88, 88) and out.is_contiguous()
    assert torch.equal(x, before)
    assert torch.equal(fa.LipReadingAugment(train=False)(x), x[:, :, 4:92, 4:92])


@pytest.mark.parametrize("seed", range(4))
def test_zoom_keeps_size_and_centre(seed):
    torch.manual_seed(seed)
    x = torch.zeros(3, 2, 40, 40)
    x[..., 18:22, 18:22] = 1
    out = fa.zoom(x, 10)
    assert out.shape == x.shape and float(out[..., 19:21, 19:21].min()) > 0.2
    assert float(out[..., :5, :5].abs().max()) == 0


def test_spatial_masks_same_squares_in_every_frame():
    torch.manual_seed(1)
    x = fa.spatial_masks_(torch.ones(5, 2, 30, 30), count=3, max_size=12)
    assert torch.equal(x, x[:1].expand_as(x)) and 0 < int((x == 0).sum()) <= 5 * 2 * 3 * 144


def test_temporal_masks_zero_whole_frames():
    torch.manual_seed(2)
    x = fa.temporal_masks_(torch.ones(40, 2, 4, 4), count=6, max_len=5)
    per_frame = x.flatten(1).sum(1)
    assert set(per_frame.tolist()) <= {0.0, 32.0} and 0 < int((per_frame == 0).sum()) <= 30


def test_channel_jitter_moves_few_by_one_and_drops_off_sensor():
    np.random.seed(0)
    ev = np.zeros(20_000, dtype=EVENTS)
    ev["x"] = np.r_[np.zeros(10_000, int), np.full(10_000, 350)]
    out = ea.ChannelJitter(channels=700, scale=0.55)(ev)
    assert 19_500 < len(out) < 20_000 and out["x"].min() >= 0
    moved = out["x"][out["x"] > 100] - 350
    assert np.abs(moved).max() <= 3 and 0.04 < np.mean(moved != 0) < 0.1


def test_drop_chunk_removes_one_short_run():
    np.random.seed(3)
    ev = np.zeros(10_000, dtype=EVENTS)
    ev["t"] = np.arange(10_000)
    for _ in range(5):
        out = ea.RandomDropChunk(p=1.0, max_ratio=0.02)(ev)
        assert 10_000 - 200 <= len(out) < 10_000
        gaps = np.flatnonzero(np.diff(out["t"]) > 1)
        assert len(gaps) <= 1 and out["t"][-1] - out["t"][0] >= 9_799
    assert len(ea.RandomDropChunk(p=0.0)(ev)) == 10_000


def test_bin_events_fixed_length_and_grouping():
    t = np.array([0, 9_999, 10_000, 55_000])
    x = np.array([0, 4, 5, 699])
    frames = ea.bin_events(t, x, 10_000, 5, 140, length=3)
    assert frames.shape == (3, 140) and frames.dtype == np.float32
    assert frames[0, 0] == 2 and frames[1, 1] == 1 and frames.sum() == 3
    assert ea.bin_events(t[:0], x[:0], 10_000, 5, 140).shape == (1, 140)


def test_bin_events_start_at_first_event_and_keep_the_last():
    frames = ea.bin_events(np.array([50_000, 59_999, 70_000]), np.array([0, 0, 699]),
                           10_000, 5, 140)
    assert frames.shape == (2, 140) and frames[0, 0] == 2 and frames[1, 139] == 1
