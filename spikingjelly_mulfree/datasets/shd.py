"""Spiking Heidelberg Digits through Tonic, with the learnable-delay (DCLS) preprocessing.

Layout: ``root/SHD/shd_train.h5`` and ``root/SHD/shd_test.h5`` as distributed (unzipped).
Tonic 1.7 downloads whenever the ``.h5.zip`` archive is absent, even if the ``.h5`` file is
present; this loader only needs the ``.h5`` files and never downloads unless ``download=True``.
When only the archive ``root/SHD/shd_{split}.h5.zip`` is there, it is extracted locally.

Preprocessing (the learnable-delay protocol): events (``t`` in microseconds, ``x`` the channel
in 0..699) are counted in 10 ms bins starting at the first event, as SpikingJelly's
fixed-duration integration does, and channels are summed in groups of 5, giving ``x [T, 140]``
float32 counts with ``T = ceil(duration / 10 ms)`` (at most about 140); the ``collate_fn``
zero-pads a batch to its longest sample. ``T=`` fixes the length (crop or zero-pad).

Training augmentations (``augment=True``), in this order, on the raw 700-channel events, with
the recipe's numbers read as the event-SSM reference implementation uses them: Tonic
``DropEvent(p=0.05)``; one dropped run of consecutive events (probability 0.3, at most 2 % of
the events); channel jitter (normal scale 0.55, truncated); Tonic ``UniformNoise`` adding a
uniformly drawn number in ``[0, 35)`` of noise events. See :mod:`.event_augment`.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .base import TimeFirstDataset
from .collate import pad_time_first
from .errors import corrupt, missing, require_root
from .event_augment import Chain, ChannelJitter, RandomDropChunk, bin_events

try:
    import h5py
    from tonic import transforms as tonic_transforms
    from tonic.datasets import SHD as _TonicSHD
    from tonic.download_utils import extract_archive
except ImportError as err:
    raise ImportError("the SHD loader needs Tonic and h5py: pip install tonic h5py") from err

SENSOR_CHANNELS = 700
CHANNEL_GROUP = 5
CHANNELS = SENSOR_CHANNELS // CHANNEL_GROUP
TIME_WINDOW_US = 10_000
NUM_CLASSES = 20
H5_KEYS = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")
SOURCE = "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/"


class SHD(_TonicSHD):
    """Tonic's SHD reader that looks only for the ``.h5`` file and downloads only on request.

    The class keeps Tonic's name because Tonic places files under ``save_to/<class name>``.
    """

    def __init__(self, save_to: str, train: bool = True, allow_download: bool = False,
                 **kwargs: object) -> None:
        self.allow_download = allow_download
        super().__init__(save_to, train=train, **kwargs)

    def _check_exists(self) -> bool:
        return os.path.isfile(os.path.join(self.location_on_system, self.data_filename))

    def download(self) -> None:
        archive = os.path.join(self.location_on_system, self.filename)
        if os.path.isfile(archive):
            try:
                extract_archive(archive, self.location_on_system)
            except Exception as err:  # zipfile/OS errors: the archive is unusable
                raise corrupt(archive, err) from err
            if self._check_exists():
                return
            raise corrupt(archive, f"it does not contain {self.data_filename}")
        if not self.allow_download:
            raise missing("shd", os.path.join(self.location_on_system, self.data_filename),
                          "SHD/shd_train.h5\nSHD/shd_test.h5", SOURCE,
                          "(unzip shd_train.h5.zip / shd_test.h5.zip there), or pass "
                          "download=True to let Tonic fetch them")
        try:
            super().download()
        except OSError as err:  # no network (urllib's URLError is an OSError), a full disk...
            raise missing("shd", os.path.join(self.location_on_system, self.data_filename),
                          "SHD/shd_train.h5\nSHD/shd_test.h5", SOURCE,
                          f"download=True failed ({err}): fetch the files by hand") from err


def _validate(path: str) -> int:
    """Open the file, check its keys and lengths; return the number of samples."""
    try:
        with h5py.File(path, "r") as f:
            absent = [k for k in H5_KEYS if k not in f]
            if absent:
                raise ValueError(f"missing keys {absent}, expected {list(H5_KEYS)}")
            sizes = {k: len(f[k]) for k in ("spikes/times", "spikes/units", "labels")}
            if len(set(sizes.values())) != 1:
                raise ValueError(f"lengths disagree: {sizes}")
            labels = f["labels"][()]
    except (OSError, ValueError, KeyError) as err:
        raise corrupt(path, err) from err
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise corrupt(path, f"labels outside 0..{NUM_CLASSES - 1}")
    return len(labels)


class SHDFrames(TimeFirstDataset):
    """SHD as binned, time-first count frames ``x [T, 140]`` (see the module docstring).

    Args:
        root: the folder that holds ``SHD/``.
        split: ``"train"`` or ``"test"``.
        augment: the four event augmentations.
        T: fixed number of 10 ms steps (crop or zero-pad); ``None`` keeps each sample's length.
        download: let Tonic download the archives when the ``.h5`` file is missing.

    Example:
        A one-sample file in the released format, written to a temporary folder:

        >>> import os, tempfile
        >>> import h5py, numpy as np
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(os.path.join(root, "SHD"))
        >>> with h5py.File(os.path.join(root, "SHD", "shd_test.h5"), "w") as f:
        ...     times = f.create_dataset("spikes/times", (1,), h5py.vlen_dtype(np.float32))
        ...     units = f.create_dataset("spikes/units", (1,), h5py.vlen_dtype(np.uint16))
        ...     times[0], units[0] = np.array([0.0, 0.25], np.float32), np.array([0, 699])
        ...     _ = f.create_dataset("labels", data=np.array([3], np.uint16))
        ...     _ = f.create_dataset("extra/keys", data=np.array([b"word"] * 20))
        ...     _ = f.create_dataset("extra/speaker", data=np.zeros(1, np.uint16))
        >>> x, y = SHDFrames(root, "test")[0]
        >>> tuple(x.shape), y, x.sum().item()
        ((25, 140), 3, 2.0)
    """

    collate_fn = staticmethod(pad_time_first)

    def __init__(self, root: str | os.PathLike | None, split: str = "train", augment: bool = False,
                 T: int | None = None, download: bool = False) -> None:
        super().__init__("shd", split, augment, NUM_CLASSES, (CHANNELS,))
        if T is not None and (isinstance(T, bool) or not isinstance(T, int) or T < 1):
            raise ValueError(f"T: expected None or an integer >= 1, got {T!r}")
        root = require_root("shd", root)
        self.T = T
        self.path = os.path.join(root, "SHD", f"shd_{self.split}.h5")
        if os.path.isfile(self.path):
            self._length = _validate(self.path)
        self._events = SHD(root, train=self.split == "train", allow_download=download)
        if not hasattr(self, "_length"):
            self._length = _validate(self.path)
        sensor = (SENSOR_CHANNELS, 1, 1)
        self.transform = Chain([
            tonic_transforms.DropEvent(p=0.05),
            RandomDropChunk(p=0.3, max_ratio=0.02),
            ChannelJitter(channels=SENSOR_CHANNELS, scale=0.55),
            tonic_transforms.UniformNoise(sensor_size=sensor, n=(0, 35)),
        ]) if self.augment else None

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -self._length <= index < self._length:
            raise IndexError(f"index: expected -{self._length} <= index < {self._length}, "
                             f"got {index}")
        try:
            events, label = self._events[index % self._length]
        except (OSError, ValueError, KeyError) as err:
            raise corrupt(self.path, f"sample {index}: {err}") from err
        if self.transform is not None:
            events = self.transform(events)
        frames = bin_events(events["t"], events["x"], TIME_WINDOW_US, CHANNEL_GROUP, CHANNELS,
                            self.T)
        return torch.from_numpy(frames), int(label)


def build_shd(root: str | os.PathLike | None = None, split: str = "train",
              augment: bool = False, **options: object) -> SHDFrames:
    """Registry builder for ``"shd"``: ``x [T, 140]``, 20 classes, variable ``T``."""
    return SHDFrames(root, split, augment, **options)
