"""GPU target: the kernel sources compiled by NVRTC through CuPy, launched on torch's stream.

One :class:`cupy.RawModule` per device is compiled on first use and cached (CuPy also keeps
its own on-disk cache of the compiled binaries). Launches go to PyTorch's *current* CUDA stream
of the tensor's device, read at every call.

:func:`nvrtc_ptx` compiles the sources for a given architecture without any GPU (used by the
tests to check every kernel builds for sm_80 and sm_90).
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
import torch

import cupy_kernels

from .launch import Arg, launch_counts

def install_hint(backend: str = "cupy") -> str:
    """What ``backend`` (a CuPy backend's name) needs and how to install it.

    Example:
        >>> install_hint("cupy-shift").split(":")[0]
        "backend='cupy-shift' needs CuPy"
    """
    return (f"backend={backend!r} needs CuPy: pip install cupy-cuda12x (CUDA 12) or pip install "
            "cupy-cuda13x (CUDA 13), matching torch.version.cuda")

_lock = threading.Lock()
_launcher: "CupyLauncher | None" = None
STREAM_CACHE = 64
"""CuPy stream wrappers a launcher keeps: past this many stream handles (a process that makes
streams without end), it forgets them all and wraps anew."""


def import_cupy():
    """``import cupy``, or an ImportError that says how to install it."""
    try:
        import cupy
    except ImportError as e:
        raise ImportError(install_hint()) from e
    return cupy


def translation_unit() -> str:
    """The source handed to NVRTC: every kernel file, included from :data:`KERNEL_DIR`.

    Example:
        >>> translation_unit().splitlines()[0].startswith('#include "')
        True
    """
    return "".join(f'#include "{p.name}"\n' for p in cupy_kernels.SOURCES)


def nvrtc_options(arch: str | None = None) -> tuple[str, ...]:
    """NVRTC options: the include path (CuPy adds the architecture of the device itself).

    Example:
        >>> nvrtc_options("compute_80")[-1], len(nvrtc_options())
        ('--gpu-architecture=compute_80', 1)
    """
    opts = (f"-I{cupy_kernels.KERNEL_DIR}",)
    return opts + ((f"--gpu-architecture={arch}",) if arch else ())


def nvrtc_ptx(arch: str) -> str:
    """PTX of all kernels for ``arch`` (e.g. ``'compute_80'``), compiled without a GPU.

    Raises:
        RuntimeError: the compilation failed (with NVRTC's log).
    """
    nvrtc = import_cupy().cuda.nvrtc
    prog = nvrtc.createProgram(translation_unit(), "cpsn_kernels.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(prog, list(nvrtc_options(arch)))
        except nvrtc.NVRTCError as e:
            raise RuntimeError(f"NVRTC ({arch}):\n{nvrtc.getProgramLog(prog)}") from e
        ptx = nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)
    return ptx.decode() if isinstance(ptx, bytes) else ptx


def _kernel_arg(a: Arg, device: torch.device):
    if isinstance(a, torch.Tensor):
        if a.device != device:  # another GPU's pointer would be read as this one's
            raise ValueError(f"the CUDA kernels need every tensor of a launch on {device}, got "
                             f"one on {a.device}; move it with .to('{device}')")
        return np.uint64(a.data_ptr())
    if a is None:
        return np.uint64(0)
    if isinstance(a, (bool, int)):
        return np.int32(int(a))
    if isinstance(a, np.float64):
        return a
    if isinstance(a, float):
        return np.float32(a)
    raise TypeError(f"unsupported kernel argument {type(a).__name__}")


class CupyLauncher:
    """Runs the kernels with CuPy (see :mod:`.launch` for the interface)."""

    target = "cuda"
    cols = 1
    block = 256
    layout = "gpu"

    def __init__(self):
        self.cupy = import_cupy()
        self._modules: dict[int, object] = {}
        self._functions: dict[tuple[int, str], object] = {}
        # CuPy's view of each torch stream a launch has used, by (device, stream handle): a
        # training step launches ~10 kernels, and wrapping the handle anew for each one is
        # Python work on the critical path of short sequences. The wrapper owns nothing, so
        # forgetting one (STREAM_CACHE) costs only a new wrapper.
        self._streams: dict[tuple[int, int], object] = {}

    def _stream(self, index: int):
        handle = torch.cuda.current_stream(index).cuda_stream
        stream = self._streams.get((index, handle))
        if stream is None:
            if len(self._streams) >= STREAM_CACHE:
                self._streams.clear()
            stream = self._streams[(index, handle)] = self.cupy.cuda.ExternalStream(handle)
        return stream

    def _function(self, index: int, name: str):
        key = (index, name)
        fn = self._functions.get(key)
        if fn is None:
            module = self._modules.get(index)
            if module is None:
                module = self.cupy.RawModule(code=translation_unit(), options=nvrtc_options())
                self._modules[index] = module
            fn = self._functions[key] = module.get_function(name)
        return fn

    def launch(self, name: str, grid: tuple[int, int], args: Sequence[Arg],
               device: torch.device) -> None:
        if grid[0] * grid[1] == 0:
            return
        index = device.index if device.index is not None else torch.cuda.current_device()
        device = torch.device("cuda", index)
        values = tuple(_kernel_arg(a, device) for a in args)
        with self.cupy.cuda.Device(index):
            fn = self._function(index, name)
            with self._stream(index):
                fn(tuple(grid), (self.block,), values)
        launch_counts[name] += 1


def cupy_launcher() -> CupyLauncher:
    """The process-wide CuPy launcher. Raises ImportError (with the install command)."""
    global _launcher
    with _lock:
        if _launcher is None:
            _launcher = CupyLauncher()
        return _launcher
