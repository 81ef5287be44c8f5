"""Distributed data parallel under ``torchrun``: set-up, sharding and metric reduction.

``torchrun --nproc_per_node=G -m spikingjelly_mulfree.train ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` then joins the process group (NCCL on CUDA,
Gloo on CPU). Without those variables everything runs in one process.

Semantics: ``--batch-size`` is the global batch, split evenly across ranks; every rank shuffles
with the same seeded permutation (``DistributedSampler``), so rank ``r`` takes samples
``r, r + W, ...`` of the same global batches one process would see, and DDP averages the
gradients. BatchNorm layers and CPSN's BatchNorm threshold normalise with each rank's own
batch statistics (as plain DDP does); only gradients and the final metrics are reduced.
Evaluation splits the test set into disjoint shards and adds the counts.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from .config import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` of ``world_size``; ``device`` to train on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _pick_device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"--device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got "
                          f"{device!r}") from err
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device: {device!r} asked for CUDA but none is available; "
                              "use --device cpu")
        if chosen.index is None:
            chosen = torch.device(f"cuda:{local_rank}")
    return chosen


def setup(device: str = "auto") -> DistContext:
    """Join the process group when launched by ``torchrun`` and pick the device.

    Example:
        >>> setup("cpu").world_size  # a plain process: no torchrun variables
        1
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = _pick_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo",
                                rank=rank, world_size=world)
    return DistContext(rank, world, local_rank, chosen)


def cleanup() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (identity in one process).

    Example:
        >>> all_reduce_sum([1.0, 2.0], DistContext(0, 1, 0, torch.device("cpu")))
        [1.0, 2.0]
    """
    if not ctx.distributed:
        return list(values)
    device = ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th index from ``rank``, in order: each sample is seen exactly once
    across ranks (for evaluation; ranks may get one sample fewer than others).

    Example:
        >>> list(ShardSampler(5, rank=1, world_size=2))
        [1, 3]
    """

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
