"""The CUDA sources of the CPSN kernels, shipped as package data.

The same files are compiled by NVRTC (through CuPy) for the GPU and by the host C++ compiler
(through :data:`HOST_SHIM`) for the CPU; see :mod:`spikingjelly_mulfree.kernels`.

Example:
    >>> import cupy_kernels
    >>> [p.name for p in cupy_kernels.SOURCES]  # doctest: +NORMALIZE_WHITESPACE
    ['cpsn_train.cu', 'cpsn_moments.cu', 'cpsn_reduce.cu', 'cpsn_fold.cu', 'cpsn_step.cu',
     'integer_charge.cu']
"""
from __future__ import annotations

from pathlib import Path

KERNEL_DIR: Path = Path(__file__).resolve().parent
"""Folder holding the sources (the include path of every compilation)."""

COMMON_HEADER: Path = KERNEL_DIR / "sjm_common.cuh"
"""Storage types, conversions, taps and surrogate derivatives shared by the kernels."""

TILES_HEADER: Path = KERNEL_DIR / "sjm_tiles.cuh"
"""Thread tiling, time blocks and tap loops shared by the training and moments kernels."""

HOST_SHIM: Path = KERNEL_DIR / "sjm_host_shim.h"
"""Header that turns the CUDA sources into host C++ (qualifiers, thread indices, launcher)."""

SOURCES: tuple[Path, ...] = (
    KERNEL_DIR / "cpsn_train.cu", KERNEL_DIR / "cpsn_moments.cu", KERNEL_DIR / "cpsn_reduce.cu",
    KERNEL_DIR / "cpsn_fold.cu", KERNEL_DIR / "cpsn_step.cu", KERNEL_DIR / "integer_charge.cu",
)
"""Kernel translation units, in the order they are included into one compilation."""


def all_files() -> tuple[Path, ...]:
    """Every file that takes part in a build (sources and headers), for hashing."""
    return (COMMON_HEADER, TILES_HEADER, HOST_SHIM, *SOURCES)
