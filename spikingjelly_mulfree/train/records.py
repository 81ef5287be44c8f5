"""Where a run's metrics go: a CSV table, TensorBoard scalars and a final JSON summary.

Only rank 0 writes. The CSV is rewritten in full from the run's history every epoch (so a
resumed run never holds duplicate or missing rows); TensorBoard gets one scalar per metric per
epoch under ``<out>/tensorboard``.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

HISTORY_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc",
                  "epoch_seconds", "samples_per_second")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_csv(history: list[dict[str, float]], path: str | os.PathLike) -> None:
    """Write ``history`` (one dict per epoch, keys :data:`HISTORY_FIELDS`) as CSV.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "metrics.csv"
        >>> write_csv([{"epoch": 1, "test_acc": 0.5}], path)
        >>> path.read_text().splitlines()[1]
        '1,,,,,0.5,,'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        for row in history:
            writer.writerow({key: row.get(key) for key in HISTORY_FIELDS})
    os.replace(tmp, path)


def write_json(data: dict[str, object], path: str | os.PathLike) -> None:
    """Write ``data`` as indented JSON, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


class TensorBoardLog:
    """Per-epoch scalars in ``folder`` (``torch.utils.tensorboard``); a no-op when disabled."""

    def __init__(self, folder: str | os.PathLike, enabled: bool, purge_step: int | None = None):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: pip install tensorboard "
                "(or pass --no-tensorboard)"
            ) from err
        self.writer = SummaryWriter(str(folder), purge_step=purge_step)

    def log(self, row: dict[str, float]) -> None:
        if self.writer is None:
            return
        step = int(row["epoch"])
        for key in HISTORY_FIELDS[1:]:
            if row.get(key) is not None:
                group = "train" if key.startswith("train") else "test" if key.startswith(
                    "test") else "misc"
                self.writer.add_scalar(f"{group}/{key}", row[key], step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
