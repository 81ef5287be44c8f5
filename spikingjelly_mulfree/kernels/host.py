"""Host target: the kernel sources built with the system C++ compiler and OpenMP.

The sources of :mod:`cupy_kernels` are compiled as one translation unit behind
``sjm_host_shim.h`` into a shared library, loaded with :mod:`ctypes`. The library is cached on
disk, keyed by a hash of the sources, the compiler's version, the flags and the CPU model, in
``$SPIKINGJELLY_MULFREE_CACHE`` (default ``~/.cache/spikingjelly_mulfree``). ``$CXX`` picks the
compiler (default ``g++``).

Two layouts of the same sources can be built (:data:`LAYOUTS`): ``'staged'``, the CPU's own
traversal (many columns per thread, SIMD lanes, rows staged in a per-thread scratch or, in the
float32 / float64 forward passes of orders below 10, read in place one time block at a time),
which ``backend='cpu'`` runs; and ``'gpu'``, the GPU's traversal (one column per thread, several
threads per block, tensors read and written in place), which runs on the CPU the code paths
that otherwise only a GPU would execute — the tests drive both through
:func:`~.launch.host_layout`.

Example:
    >>> launcher = host_launcher()        # builds once (about 20 s), then loads from the cache
    >>> launcher.cols > 1
    True
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import struct
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

import cupy_kernels

from .launch import Arg, launch_counts

CACHE_ENV = "SPIKINGJELLY_MULFREE_CACHE"
FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c++17",
         "-fvisibility=hidden", "-fvisibility-inlines-hidden")
# Extra compiler flags, appended to FLAGS (part of the cache key): e.g. the sanitizers of
# `make sanitize`.
CXXFLAGS_ENV = "SPIKINGJELLY_MULFREE_CXXFLAGS"
# Launches whose largest tensor is smaller run on the calling thread: waking the OpenMP team
# costs more than the work (tens of microseconds idle, milliseconds on a loaded machine).
PARALLEL_MIN_ELEMENTS = 1 << 16

# Arguments a launch may pass (SJM_MAX_ARGS of the shim).
MAX_ARGS = 32

LAYOUTS: dict[str, tuple[str, ...]] = {"staged": (), "gpu": ("-DSJM_GPU_LAYOUT",)}
"""Host build layouts and the defines that select them (see the module docstring)."""
# Threads per block of the GPU layout's launches (the GPU uses more; any count exercises the
# same index arithmetic).
GPU_LAYOUT_BLOCK = 32

_lock = threading.Lock()
_launchers: dict[str, "HostLauncher"] = {}

# How a launch packs each kind of argument into its 8-byte slot (see HostLauncher.launch).
_TENSOR, _NULL, _INT, _DOUBLE, _FLOAT = range(5)
_SLOT = ("Q", "Q", "i4x", "d", "f4x")
# The kind of an argument by its exact type: one dictionary lookup an argument instead of a
# chain of isinstance tests (other types, subclasses included, take _kind_of; np.float64 is a
# float, so it comes before float).
_KINDS = {torch.Tensor: _TENSOR, torch.nn.Parameter: _TENSOR, type(None): _NULL, int: _INT,
          bool: _INT, np.float64: _DOUBLE, float: _FLOAT}
# The launch buffer's layout by the arguments' kinds: the 8-int head, then a slot an argument.
_LAYOUTS: dict[tuple[int, ...], struct.Struct] = {}


def _kind_of(name: str, a: object) -> int:
    """The packing kind of an argument whose exact type is not in _KINDS: that of the first
    type in _KINDS it is an instance of."""
    for base, kind in _KINDS.items():
        if isinstance(a, base):
            return kind
    raise TypeError(f"{name}: unsupported kernel argument {type(a).__name__}")


def cache_dir() -> Path:
    """Folder of the built libraries (``$SPIKINGJELLY_MULFREE_CACHE`` or ``~/.cache/...``).

    Example:
        >>> build().parent == cache_dir()
        True
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "spikingjelly_mulfree"


def compiler() -> str | None:
    """Path of the host C++ compiler (``$CXX``, else ``g++``, looked up on ``PATH``), or
    ``None`` if there is none.

    Example:
        >>> Path(compiler()).is_file()
        True
    """
    return shutil.which(os.environ.get("CXX", "g++"))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _translation_unit() -> str:
    names = [cupy_kernels.HOST_SHIM.name, *(p.name for p in cupy_kernels.SOURCES)]
    return "".join(f'#include "{n}"\n' for n in names)


def check_layout(layout: str) -> tuple[str, ...]:
    """The defines of ``layout``; ``ValueError`` naming the layouts for an unknown one."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {tuple(LAYOUTS)}, got {layout!r}")
    return LAYOUTS[layout]


def build_flags(layout: str = "staged") -> tuple[str, ...]:
    """The compiler flags of ``layout``: :data:`FLAGS`, ``$SPIKINGJELLY_MULFREE_CXXFLAGS``
    (split like a shell would) and the layout's defines.

    Example:
        >>> "-fopenmp" in build_flags(), build_flags("gpu")[-1]
        (True, '-DSJM_GPU_LAYOUT')
    """
    return FLAGS + tuple(shlex.split(os.environ.get(CXXFLAGS_ENV, ""))) + check_layout(layout)


def build_key(cxx: str, layout: str = "staged") -> str:
    """Hash of everything the library depends on."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    h = hashlib.sha256()
    flags = build_flags(layout)
    for part in (version, " ".join(flags), _cpu_model(), _translation_unit()):
        h.update(part.encode())
    for path in cupy_kernels.all_files():
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def build(force: bool = False, layout: str = "staged") -> Path:
    """Compile the host library of ``layout`` unless the cache has it; returns its path.

    Args:
        force: rebuild even when the cache holds the library.
        layout: one of :data:`LAYOUTS`.

    Raises:
        RuntimeError: no compiler, or the compilation failed (with the compiler's output).
        ValueError: an unknown ``layout``.

    Example:
        >>> build().suffix, build() == build()  # the second call finds it in the cache
        ('.so', True)
    """
    cxx = compiler()
    if cxx is None:
        raise RuntimeError(
            "no host C++ compiler found (looked for $CXX or g++): install g++ with OpenMP "
            "(e.g. apt-get install g++) or use backend='torch'"
        )
    flags = build_flags(layout)
    out = cache_dir() / f"cpsn_host_{build_key(cxx, layout)}.so"
    if out.exists() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_lib = Path(tmp) / out.name
        cmd = [cxx, *flags, f"-I{cupy_kernels.KERNEL_DIR}", "-x", "c++", "-", "-o",
               str(tmp_lib)]
        proc = subprocess.run(cmd, input=_translation_unit(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"building the host kernels failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}"
            )
        os.replace(tmp_lib, out)
    return out


def _load_passive(path: Path) -> ctypes.CDLL:
    """Load the library with its OpenMP threads set to sleep (not spin) between launches.

    The library links the system OpenMP runtime, torch bundles its own: two pools spinning on
    the same cores slow each other down. The policy is read once, when the runtime loads;
    ``OMP_WAIT_POLICY`` set by the user is respected.
    """
    saved = os.environ.get("OMP_WAIT_POLICY")
    if saved is None:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        return ctypes.CDLL(str(path))
    finally:
        if saved is None:
            del os.environ["OMP_WAIT_POLICY"]


class HostLauncher:
    """Runs kernels of the host library of ``layout`` (see :mod:`.launch` for the interface)."""

    target = "host"

    def __init__(self, path: Path, layout: str = "staged"):
        check_layout(layout)
        self.path = path
        self.layout = layout
        self.block = 1 if layout == "staged" else GPU_LAYOUT_BLOCK
        self.lib = _load_passive(path)
        self.lib.sjm_launch.restype = ctypes.c_int
        self.lib.sjm_launch.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        self.lib.sjm_kernel_name.restype = ctypes.c_char_p
        self.cols = int(self.lib.sjm_cols())
        # bytes of a lane group: a SIMD register of the build's target (64 with AVX-512, 32
        # with AVX / AVX2, else 16) in the staged layout, 1 in the GPU's
        self.lane_bytes = int(self.lib.sjm_lane_bytes())

    def kernel_names(self) -> list[str]:
        """Every kernel the library exports.

        Example:
            >>> "cpsn_forward_f32_shift" in host_launcher().kernel_names()
            True
        """
        n = self.lib.sjm_kernel_count()
        return [self.lib.sjm_kernel_name(i).decode() for i in range(n)]

    def launch(self, name: str, grid: tuple[int, int], args: Sequence[Arg],
               device: torch.device | None = None) -> None:
        """Run kernel ``name`` on ``grid`` blocks of :attr:`block` threads with ``args`` packed
        as :mod:`.launch` describes (CPU tensors only); OpenMP runs the blocks when the largest
        tensor has :data:`PARALLEL_MIN_ELEMENTS` or more."""
        # One 8-byte slot per argument, packed by one precompiled struct call (building a ctypes
        # object per argument cost ~10 us a launch, as much as a small layer's kernel).
        kinds = tuple(map(_KINDS.get, map(type, args)))
        if None in kinds:
            kinds = tuple(k if k is not None else _kind_of(name, a) for a, k in zip(args, kinds))
        if len(kinds) > MAX_ARGS:
            raise ValueError(f"{name}: at most {MAX_ARGS} kernel arguments, got {len(kinds)}")
        values = []
        size = 0
        for a, kind in zip(args, kinds):
            if kind == _TENSOR:
                if not a.is_cpu:  # (a.device builds an object: a microsecond a tensor)
                    raise ValueError(f"{name}: the host kernels need CPU tensors, got {a.device}")
                values.append(a.data_ptr())
                n = a.numel()
                if n > size:
                    size = n
            elif kind == _NULL:
                values.append(0)
            elif kind == _INT:
                values.append(int(a))
            else:
                values.append(float(a))
        gx, gy = grid
        if gx * gy == 0:
            return
        layout = _LAYOUTS.get(kinds)
        if layout is None:
            layout = _LAYOUTS[kinds] = struct.Struct("<8i" + "".join(_SLOT[k] for k in kinds))
        threads = torch.get_num_threads() if size >= PARALLEL_MIN_ELEMENTS else 1
        packed = layout.pack(gx, gy, 1, self.block, 1, 1, threads, len(values), *values)
        rc = self.lib.sjm_launch(name.encode(), packed)
        if rc != 0:
            raise KeyError(f"kernel {name!r} is not in the host library {self.path}")
        launch_counts[name] += 1


def host_launcher(layout: str = "staged") -> HostLauncher:
    """The process-wide host launcher of ``layout`` (built or loaded on first use).

    Example:
        >>> host_launcher() is host_launcher(), host_launcher("gpu").block
        (True, 32)
    """
    check_layout(layout)
    with _lock:
        if layout not in _launchers:
            _launchers[layout] = HostLauncher(build(layout=layout), layout)
        return _launchers[layout]
