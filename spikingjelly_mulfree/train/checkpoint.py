"""Atomic checkpoints and the random-number state needed to resume a run exactly.

A checkpoint holds the model, optimizer, scheduler and AMP scaler states, the epoch just
finished, the metric history, the run's configuration and the state of every RNG the
training touches (Python ``random``, NumPy, torch CPU and CUDA). It is written to a temporary
file in the same folder and renamed over the old one, so a run killed mid-write leaves the
previous checkpoint intact.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(RuntimeError):
    """A checkpoint file that exists but cannot be resumed from (the message names it)."""


def _numpy_state_out(state: tuple) -> tuple:
    """NumPy's legacy generator state with its key array as a tensor, so that a checkpoint
    holds only what ``torch.load(weights_only=True)`` reads (no pickled NumPy objects)."""
    name, keys, pos, has_gauss, cached = state
    return (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
            float(cached))


def _numpy_state_in(state: tuple) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)


def rng_state() -> dict[str, object]:
    """Snapshot of the Python, NumPy, torch and (if present) CUDA generators.

    Example:
        >>> state = rng_state(); a = torch.rand(1); set_rng_state(state)
        >>> bool(torch.equal(a, torch.rand(1)))
        True
    """
    state: dict[str, object] = {
        "python": random.getstate(),
        "numpy": _numpy_state_out(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, object]) -> None:
    """Restore a snapshot taken by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(_numpy_state_in(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file next to ``path``, then rename it over ``path``.

    Example:
        >>> import tempfile, torch
        >>> d = tempfile.mkdtemp(); atomic_save({"a": 1}, f"{d}/c.pt")
        >>> torch.load(f"{d}/c.pt")["a"]
        1
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict[str, object]:
    """Load a checkpoint written by the trainer onto the CPU.

    Raises:
        FileNotFoundError: naming ``path`` and how to start a fresh run.
        CheckpointError: the file is not a readable checkpoint (truncated or corrupt).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"--resume: no checkpoint at {path}; run without --resume to start training, or "
            "pass the --out folder of the run to continue"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if "Unsupported global" in str(err):  # a pickled object a weights-only load refuses
            raise CheckpointError(
                f"--resume: {path} holds pickled objects that a weights-only load refuses (a "
                "checkpoint written by a version before 0.1.0's, which pickled NumPy's "
                "generator state, or not by this trainer); delete it to start over"
            ) from err
        raise CheckpointError(
            f"--resume: {path} is not a readable checkpoint ({err}); delete it to start over"
        ) from err
    if not isinstance(ckpt, dict) or "epoch" not in ckpt or "model" not in ckpt:
        raise CheckpointError(f"--resume: {path} is not a checkpoint written by this trainer; "
                              "delete it to start over")
    return ckpt
