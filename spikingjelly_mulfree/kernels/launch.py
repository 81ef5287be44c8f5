"""The launcher interface shared by the GPU (CuPy/NVRTC) and host (g++/OpenMP) targets.

A launcher runs a kernel of ``cupy_kernels/`` by name on a 2-D grid of blocks:

* ``launcher.cols`` — columns of the ``[T, M]`` layout one thread owns (1 on the GPU);
* ``launcher.block`` — threads per block;
* ``launcher.layout`` — the kernels' traversal: ``'gpu'`` (one column per thread, tensors read
  and written in place) or ``'staged'`` (the CPU's: rows staged in a per-thread scratch);
* ``launcher.launch(name, grid, args, device)`` — ``grid = (gx, gy)`` blocks; ``args`` are
  passed in order: a tensor as its ``data_ptr()``, ``None`` as a null pointer, a python
  ``int`` as ``int32``, a ``float`` as ``float32`` and a :class:`numpy.float64` as ``double``
  (the kernels take nothing else).

Every launch increments :data:`launch_counts` ``[name]``, so tests can prove a fast path ran.
CPU tensors run the host build in the layout :func:`host_layout` selects (``'staged'`` unless a
test asks for the GPU's).

Example:
    >>> import torch
    >>> from spikingjelly_mulfree.kernels import get_launcher
    >>> get_launcher(torch.device("cpu")).target
    'host'
"""
from __future__ import annotations

import collections
import contextlib
from typing import Iterator, Protocol, Sequence, Union

import numpy as np
import torch

Arg = Union[torch.Tensor, int, float, np.float64, None]

launch_counts: collections.Counter = collections.Counter()
"""Number of launches per kernel name in this process."""


class Launcher(Protocol):
    """Runs the kernels of one target (see the module docstring)."""

    target: str
    cols: int
    block: int
    layout: str

    def launch(self, name: str, grid: tuple[int, int], args: Sequence[Arg],
               device: torch.device) -> None:
        """Run kernel ``name`` on ``grid`` blocks of ``self.block`` threads."""


_host_layout = "staged"
# Launchers found so far, by (device type, host layout): a launch looks its launcher up, and
# the imports below cost microseconds a call.
_resolved: dict[tuple[str, str], Launcher] = {}


@contextlib.contextmanager
def host_layout(layout: str) -> Iterator[None]:
    """Within the block, CPU tensors run the host build of ``layout`` (``'staged'`` or
    ``'gpu'``, see :mod:`.host`): ``'gpu'`` executes the GPU's code paths on the CPU.

    Example:
        >>> with host_layout("gpu"):
        ...     get_launcher(torch.device("cpu")).cols
        1
    """
    from .host import check_layout

    check_layout(layout)
    global _host_layout
    saved, _host_layout = _host_layout, layout
    try:
        yield
    finally:
        _host_layout = saved


def get_launcher(device: torch.device) -> Launcher:
    """The launcher for tensors on ``device``: the host build on CPU, CuPy on CUDA.

    Raises:
        RuntimeError: no host compiler / the build failed (CPU); ImportError: CuPy missing
        (CUDA); ValueError: another device type.

    Example:
        >>> with host_layout("staged"):
        ...     get_launcher(torch.device("cpu")).layout
        'staged'
        >>> get_launcher(torch.device("meta"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: device: the CPSN kernels run on 'cpu' (host build) or 'cuda' (CuPy), ...
    """
    key = (device.type, _host_layout)
    launcher = _resolved.get(key)
    if launcher is not None:
        return launcher
    if device.type == "cpu":
        from .host import host_launcher

        launcher = host_launcher(_host_layout)
    elif device.type == "cuda":
        from .cuda import cupy_launcher

        launcher = cupy_launcher()
    if launcher is not None:
        _resolved[key] = launcher
        return launcher
    raise ValueError(
        f"device: the CPSN kernels run on 'cpu' (host build) or 'cuda' (CuPy), got {device}; "
        f"use backend='torch' there"
    )


def grid_for(launcher: Launcher, columns: int, rows: int = 1) -> tuple[int, int]:
    """Blocks ``(gx, gy)`` covering ``columns`` along x (``launcher.cols`` per thread) and
    ``rows`` along y.

    Example:
        >>> with host_layout("gpu"):  # one column per thread, 32 threads per block
        ...     grid_for(get_launcher(torch.device("cpu")), 100, rows=3)
        (4, 3)
    """
    threads = -(-columns // launcher.cols)
    return -(-threads // launcher.block), rows
