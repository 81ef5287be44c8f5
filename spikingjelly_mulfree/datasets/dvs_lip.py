"""DVS-Lip through Tonic: event clips binned into ``T`` frames, cropped, cached on disk.

Layout (Tonic 1.7): ``root/DVSLip/DVS-Lip/{train,test}/<word>/<clip>.npy`` for the 100 words of
``tonic.datasets.DVSLip.classes``; each ``.npy`` holds a structured array with fields ``x``,
``y``, ``p``, ``t``. The archive ``root/DVSLip/DVS-Lip.zip`` is extracted by Tonic when present.
Tonic ends the whole process (``exit()``) when a split has fewer than 100 clips; this loader
checks first and raises instead.

Preprocessing, following the DVS-Lip pipeline of the strongest baseline the paper compares with
(SpikGRU, T = 90): a clip spans 1.2 s (30 video frames of 40 ms); time is cut into ``T`` frames
of ``1.2 s / T`` from ``t = 0`` (µs), each event going to the frame nearest to its timestamp;
events from frame ``T`` on are dropped. Events are counted per polarity and pixel
(``[T, 2, 128, 128]``) and centre-cropped to 96 x 96. These counts are cached on disk (one
compressed ``.npz`` per clip, keyed by ``T`` and the source file's size and modification time,
written atomically), so epochs after the first read the cache instead of re-binning.

Representation (``polarity=``): ``"signed"`` (default, as the baseline) puts ON events in
channel 0 counted +1 and OFF events in channel 1 counted -1; ``"counts"`` keeps Tonic's
convention, channel ``p`` counting the events of polarity ``p`` (both non-negative). Then
:class:`~.frame_augment.LipReadingAugment` gives ``x [T, 2, 88, 88]`` float32: random 88 crop,
flip, spatial masks, zoom and temporal masks for training; the centre 88 crop for evaluation.
"""
from __future__ import annotations

import os
import tempfile
import warnings
import zipfile

import numpy as np
import torch

from .base import TimeFirstDataset
from .errors import DatasetNotFoundError, corrupt, missing, require_root
from .frame_augment import LipReadingAugment, centre_crop

try:
    from tonic.datasets import DVSLip as _TonicDVSLip
except ImportError as err:
    raise ImportError("the DVS-Lip loader needs Tonic: pip install tonic") from err

SENSOR = (128, 128)
CLIP_US = 1_200_000
CACHE_CROP = 96
POLARITY = ("signed", "counts")
CACHE_FORMAT = 2
MIN_CLIPS = 100
SOURCE = "https://sites.google.com/view/event-based-lipreading (DVS-Lip.zip)"
LAYOUT = "DVSLip/DVS-Lip/train/<word>/*.npy\nDVSLip/DVS-Lip/test/<word>/*.npy\n" \
         "(or the archive DVSLip/DVS-Lip.zip, which Tonic extracts)"


class DVSLip(_TonicDVSLip):
    """Tonic's reader, named like Tonic's class so files live under ``save_to/DVSLip``."""


def events_to_frames(events: np.ndarray, T: int, clip_us: float = CLIP_US,
                     sensor: tuple[int, int] = SENSOR) -> np.ndarray:
    """Count events into ``T`` frames of ``clip_us / T`` microseconds each, from ``t = 0``.

    Each event goes to the frame nearest to ``t / (clip_us / T)``; frames ``>= T`` are dropped.

    Args:
        events: structured array with fields ``x`` (column), ``y`` (row), ``p``, ``t`` (µs).
        T: number of frames.
        clip_us: duration the ``T`` frames cover.
        sensor: ``(height, width)``.

    Returns:
        ``int64 [T, 2, height, width]`` counts, channel = polarity ``p``; events off the sensor
        are ignored.

    Example:
        >>> ev = np.zeros(3, dtype=[("x", "i2"), ("y", "i2"), ("p", "?"), ("t", "i8")])
        >>> ev["t"] = [0, 400_000, 1_300_000]; ev["x"] = [1, 2, 3]; ev["p"] = [0, 1, 1]
        >>> f = events_to_frames(ev, 3, sensor=(4, 4))
        >>> f.shape, int(f[0, 0, 0, 1]), int(f[1, 1, 0, 2]), int(f.sum())
        ((3, 2, 4, 4), 1, 1, 2)
    """
    height, width = sensor
    frames = np.zeros(T * 2 * height * width, dtype=np.int64)
    if len(events) == 0:
        return frames.reshape(T, 2, height, width)
    bins = np.rint(events["t"].astype(np.float64) / (clip_us / T)).astype(np.int64)
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    p = events["p"].astype(np.int64)
    ok = (bins >= 0) & (bins < T) & (x >= 0) & (x < width) & (y >= 0) & (y < height) \
        & (p >= 0) & (p < 2)
    flat = ((bins * 2 + p) * height + y) * width + x
    frames += np.bincount(flat[ok], minlength=frames.size)
    return frames.reshape(T, 2, height, width)


def to_representation(counts: torch.Tensor, polarity: str) -> torch.Tensor:
    """``counts [T, 2, H, W]`` (channel = polarity) -> the ``polarity`` representation.

    Example:
        >>> c = torch.tensor([[[[2.]], [[3.]]]])
        >>> to_representation(c, "signed").flatten().tolist()
        [3.0, -2.0]
    """
    if polarity == "counts":
        return counts
    return torch.stack([counts[:, 1], -counts[:, 0]], dim=1)


def _check_tree(location: str, split: str, zip_may_hold_it: bool = True) -> None:
    """Raise (instead of Tonic's ``exit()``) when the split's clips are absent or too few;
    while ``zip_may_hold_it``, a ``DVS-Lip.zip`` that Tonic will unpack stands in for them."""
    folder = os.path.join(location, "DVS-Lip", split)
    if not os.path.isdir(folder):
        if zip_may_hold_it and os.path.isfile(os.path.join(location, "DVS-Lip.zip")):
            return
        raise missing("dvs-lip", folder, LAYOUT, SOURCE,
                      "The data is on Google Drive and must be downloaded by hand.")
    # Tonic takes every entry of the split folder but .DS_Store for a word
    words = sorted(d for d in os.listdir(folder) if d != ".DS_Store")
    unknown = [w for w in words if w not in _TonicDVSLip.classes]
    if unknown:
        raise DatasetNotFoundError(
            f"dvs-lip: {os.path.join(folder, unknown[0])!r} is not one of the 100 DVS-Lip words "
            f"(tonic.datasets.DVSLip.classes); remove it (Tonic reads every entry of a split "
            f"folder as a word). Expected layout under root:\n{LAYOUT}")
    clips = sum(f.endswith(".npy") for w in words
                for f in os.listdir(os.path.join(folder, w)))
    if clips < MIN_CLIPS:
        raise DatasetNotFoundError(
            f"dvs-lip: found {clips} .npy clips under {folder!r}, Tonic needs at least "
            f"{MIN_CLIPS} (the full split has thousands); the copy looks incomplete. Expected "
            f"layout under root:\n{LAYOUT}\nGet the data from: {SOURCE}")


def _open_events(root: str, location: str, split: str) -> DVSLip:
    """Tonic's clips of ``split`` (whose folder :func:`_check_tree` has checked, if there was
    one); a ``DVS-Lip.zip`` it unpacks is checked like a folder afterwards."""
    archive = os.path.join(location, "DVS-Lip.zip")
    unpacks = not os.path.isdir(os.path.join(location, "DVS-Lip", split))
    try:
        events = DVSLip(root, train=split == "train")
    except zipfile.BadZipFile as err:
        raise corrupt(archive, err) from err
    except FileNotFoundError:  # the archive held no such split: say what is missing
        _check_tree(location, split, zip_may_hold_it=False)
        raise
    if unpacks:
        _check_tree(location, split, zip_may_hold_it=False)
    return events


class DVSLipFrames(TimeFirstDataset):
    """DVS-Lip clips as time-first frames ``x [T, 2, 88, 88]`` (see the module docstring).

    Args:
        root: the folder that holds ``DVSLip/``.
        split: ``"train"`` or ``"test"``.
        augment: the training augmentations (otherwise the centre crop).
        T: number of frames per clip (default 90), each ``1.2 s / T`` long.
        polarity: ``"signed"`` (ON +1 in channel 0, OFF -1 in channel 1) or ``"counts"``.
        cache: keep binned frames on disk.
        cache_dir: where; default ``root/DVSLip/frames_T{T}``.

    Example:
        >>> ds = DVSLipFrames("~/data", "test", T=30)  # doctest: +SKIP
        >>> x, y = ds[0]; tuple(x.shape)  # doctest: +SKIP
        (30, 2, 88, 88)
    """

    def __init__(self, root: str | os.PathLike | None, split: str = "train", augment: bool = False,
                 T: int = 90, polarity: str = "signed", cache: bool = True,
                 cache_dir: str | os.PathLike | None = None) -> None:
        super().__init__("dvs-lip", split, augment, len(_TonicDVSLip.classes), (2, 88, 88))
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"T: expected an integer >= 1 (frames per clip), got {T!r}")
        if polarity not in POLARITY:
            raise ValueError(f"polarity: expected one of {POLARITY}, got {polarity!r}")
        self.polarity = polarity
        root = require_root("dvs-lip", root)
        location = os.path.join(root, "DVSLip")
        _check_tree(location, self.split)
        self.T = T
        self.split_dir = os.path.join(location, "DVS-Lip", self.split)
        self._events = _open_events(root, location, self.split)
        order = sorted(range(len(self._events.data)), key=lambda i: self._events.data[i])
        self._events.data = [self._events.data[i] for i in order]
        self._events.targets = [self._events.targets[i] for i in order]
        self.cache_dir = None
        if cache:
            base = os.fspath(cache_dir) if cache_dir is not None else \
                os.path.join(location, f"frames_T{T}")
            self.cache_dir = os.path.join(os.path.abspath(os.path.expanduser(base)), self.split)
        self.transform = LipReadingAugment(train=self.augment)

    def __len__(self) -> int:
        return len(self._events.data)

    @property
    def targets(self) -> list[int]:
        """Labels of all clips, in index order."""
        return list(self._events.targets)

    def _cache_path(self, source: str) -> str:
        rel = os.path.relpath(source, self.split_dir)
        return os.path.join(self.cache_dir, os.path.splitext(rel)[0] + ".npz")

    def _read_cache(self, path: str, stamp: np.ndarray) -> np.ndarray | None:
        try:
            with np.load(path) as f:
                if np.array_equal(f["stamp"], stamp) and f["frames"].shape[0] == self.T:
                    return f["frames"]
        except (OSError, ValueError, KeyError, EOFError):
            return None
        return None

    def _write_cache(self, path: str, frames: np.ndarray, stamp: np.ndarray) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, frames=frames, stamp=stamp)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def cropped_frames(self, index: int) -> np.ndarray:
        """Binned, 96 x 96 centre-cropped counts ``[T, 2, 96, 96]``, channel = polarity ``p``
        (from the cache when it is valid)."""
        source = self._events.data[index]
        try:
            info = os.stat(source)
        except OSError as err:
            raise corrupt(source, err) from err
        stamp = np.array([info.st_size, info.st_mtime_ns, self.T, CLIP_US, CACHE_FORMAT],
                         dtype=np.int64)
        cache_path = self._cache_path(source) if self.cache_dir else None
        if cache_path and os.path.exists(cache_path):
            cached = self._read_cache(cache_path, stamp)
            if cached is not None:
                return cached
        try:
            events, _ = self._events[index]
        except (OSError, ValueError, KeyError, EOFError, IndexError) as err:
            raise corrupt(source, err) from err
        frames = centre_crop(events_to_frames(events, self.T), CACHE_CROP)
        frames = frames.astype(np.uint8 if frames.max(initial=0) < 256 else np.uint16)
        if cache_path:
            try:
                self._write_cache(cache_path, np.ascontiguousarray(frames), stamp)
            except OSError as err:
                warnings.warn(f"dvs-lip: cannot write the frame cache under {self.cache_dir!r} "
                              f"({err}); continuing without it. Pass cache_dir=A_WRITABLE_PATH "
                              "to keep frames between epochs", RuntimeWarning, stacklevel=2)
                self.cache_dir = None
        return frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        counts = torch.from_numpy(self.cropped_frames(index).astype(np.float32))
        frames = to_representation(counts, self.polarity)
        return self.transform(frames), int(self._events.targets[index])


def build_dvs_lip(root: str | os.PathLike | None = None, split: str = "train",
                  augment: bool = False, **options: object) -> DVSLipFrames:
    """Registry builder for ``"dvs-lip"``: ``x [T, 2, 88, 88]``, 100 classes, ``T=90``."""
    return DVSLipFrames(root, split, augment, **options)
