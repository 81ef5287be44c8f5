"""Shift-and-add CPSN kernels: one CUDA source (``cupy_kernels/``), two targets.

* :mod:`.launch` — the launcher interface (:func:`get_launcher`, :data:`launch_counts`);
* :mod:`.host` — the host build (g++/OpenMP, loaded with ctypes, cached on disk);
* :mod:`.cuda` — the GPU build (NVRTC through CuPy, launched on torch's current stream);
* :mod:`.ops` — tensor-level entry points (forward, backward, moments);
* :mod:`.step` — the single-step ring-buffer update;
* :mod:`.library` — ``torch.library`` custom ops with fake impls and autograd.
"""
from .launch import Launcher, get_launcher, launch_counts

__all__ = ["Launcher", "get_launcher", "launch_counts"]
