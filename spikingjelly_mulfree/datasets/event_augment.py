"""Event-stream augmentations for 1-D (audio) sensors such as SHD's 700 cochlea channels.

Events are Tonic structured arrays with fields ``t`` (microseconds), ``x`` (channel) and ``p``,
sorted by time. Tonic's transforms are used where they fit a 1-D sensor (``DropEvent``,
``UniformNoise``); two are written here because Tonic has none for them:

* :class:`ChannelJitter`: Tonic's ``SpatialJitter`` requires a ``y`` field, which 1-D
  recordings lack. Each event's channel moves by a normal draw truncated toward zero; events
  pushed off the sensor are dropped. The SHD recipe's "variance 0.55" follows the event-SSM
  reference implementation, which passes that number as the normal's scale (standard
  deviation) and truncates: about 7 % of events move, by one channel almost always.
* :class:`RandomDropChunk`: with probability ``p``, one contiguous run of events (in time
  order) is removed; its length is uniform in ``[1, max_ratio * number of events]``.

All draw from NumPy's global RNG, as Tonic's transforms do (DataLoader workers reseed it).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChannelJitter:
    """Move each event's ``x`` by ``trunc(N(0, scale))``; drop events outside ``[0, channels)``.

    Example:
        >>> import numpy as np
        >>> ev = np.zeros(5, dtype=[("t", int), ("x", int), ("p", int)]); ev["x"] = 3
        >>> out = ChannelJitter(channels=700, scale=0.0)(ev)
        >>> out["x"].tolist()
        [3, 3, 3, 3, 3]
    """

    channels: int
    scale: float = 0.55

    def __call__(self, events: np.ndarray) -> np.ndarray:
        shift = np.trunc(np.random.normal(0.0, self.scale, len(events))).astype(np.int64)
        moved = events["x"].astype(np.int64) + shift
        keep = (moved >= 0) & (moved < self.channels)
        out = events[keep].copy()
        out["x"] = moved[keep]
        return out


@dataclass(frozen=True)
class RandomDropChunk:
    """With probability ``p``, remove one run of consecutive events, at most ``max_ratio`` of
    them.

    Example:
        >>> import numpy as np
        >>> ev = np.zeros(4, dtype=[("t", int), ("x", int), ("p", int)]); ev["t"] = [0, 1, 2, 3]
        >>> len(RandomDropChunk(p=0.0)(ev)), len(RandomDropChunk(p=1.0, max_ratio=0.5)(ev)) < 4
        (4, True)
    """

    p: float = 0.3
    max_ratio: float = 0.02

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events) == 0 or np.random.random_sample() >= self.p:
            return events
        longest = max(1, int(self.max_ratio * len(events)))
        size = np.random.randint(1, longest + 1)
        start = np.random.randint(0, len(events) - size + 1)
        return np.concatenate([events[:start], events[start + size:]])


@dataclass(frozen=True)
class Chain:
    """Apply callables in order; an empty stream passes through untouched."""

    steps: Sequence[Callable[[np.ndarray], np.ndarray]]

    def __call__(self, events: np.ndarray) -> np.ndarray:
        for step in self.steps:
            if len(events) == 0:
                break
            events = step(events)
        return events


def bin_events(t_us: np.ndarray, x: np.ndarray, time_window_us: float, channel_group: int,
               channels: int, length: int | None = None) -> np.ndarray:
    """Count events per (time bin, channel group), as SpikingJelly's fixed-duration integration
    of SHD (the one the learnable-delay code bins further by channel groups).

    Time starts at the first event; the clip has ``ceil(span / time_window_us)`` bins (at least
    one) and an event exactly at the end joins the last bin.

    Args:
        t_us: event times in microseconds, shape ``[E]``.
        x: event channels, shape ``[E]``, in ``[0, channels * channel_group)``.
        time_window_us: bin width in microseconds.
        channel_group: how many adjacent input channels are summed into one.
        channels: number of output channels.
        length: number of bins to return (crop or zero-pad); ``None`` keeps the clip's own.

    Returns:
        ``float32 [T, channels]`` event counts.

    Example:
        >>> import numpy as np
        >>> bin_events(np.array([5_000, 20_000, 25_000]), np.array([0, 9, 5]), 10_000, 5, 2)
        array([[1., 0.],
               [0., 2.]], dtype=float32)
    """
    t = np.asarray(t_us, dtype=np.float64)
    groups = np.asarray(x, dtype=np.int64) // channel_group
    if len(t):
        t = t - t.min()
        natural = max(1, int(np.ceil(t.max() / time_window_us)))
    else:
        natural = 1
    bins = np.minimum(np.floor_divide(t, time_window_us).astype(np.int64), natural - 1)
    if length is None:
        length = natural
    keep = (bins < length) & (groups >= 0) & (groups < channels)
    flat = np.bincount(bins[keep] * channels + groups[keep], minlength=length * channels)
    return flat.reshape(length, channels).astype(np.float32)
