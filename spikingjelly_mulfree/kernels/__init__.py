r"""Shift-and-add CPSN kernels: one CUDA source (``cupy_kernels/``), two targets.

* :mod:`.launch` — the launcher interface (:func:`get_launcher`, :data:`launch_counts`);
* :mod:`.host` — the host build (g++/OpenMP, loaded with ctypes, cached on disk);
* :mod:`.cuda` — the GPU build (NVRTC through CuPy, launched on torch's current stream);
* :mod:`.ops` — tensor-level entry points (forward, backward, moments);
* :mod:`.step` — the single-step ring-buffer update;
* :mod:`.library` — ``torch.library`` custom ops with fake impls and autograd;
* :mod:`.fused` — one input-gradient pass for BatchNorm-threshold layers (eager training).

Kernels work on the native ``[T, M]`` layout (``M = N*C*S``); a thread walks its columns
through all ``T`` steps, so each input element is read from memory once per pass and the ``k``
taps hit the cache. Passes of one training step with the BatchNorm threshold, and the bytes they
move per element for fp32 (``b`` bytes for 16-bit inputs replace the 4 of X, dX and S):

=============================  =======================================  ============================
pass                           traffic                                  bytes/element
=============================  =======================================  ============================
moments (forward)              read X                                   4
charge + fire (forward)        read X, write S                          8
charge-fire backward           read X, dS; write g                      12
moments backward (fused)       read X, g; write dX over g               12 (+8 on the GPU for g0)
=============================  =======================================  ============================

That is the eager BN training path (:mod:`.fused`: one input-gradient pass for both consumers
of X; the moments' own ``g0`` stays in a per-thread scratch on the host and makes a round trip
through a ``[T, M]`` buffer on the GPU); the custom ops (``torch.compile``) run the two backward
passes separately and let autograd add their input gradients (read X, dS; write g, dX — then
read X; write g0, dX; then 12 bytes for the sum). Against the floor ``x * 1.0`` (8 bytes
forward, about 8 backward) a BN training step moves about 2.3-2.8x the floor's bytes; without
the BN threshold (fixed or learnable threshold), about 2x. FLOPs per element: ``k``
multiply-adds per pass over the taps, ``8k`` for a BN training step (forward: 2 passes;
backward: H and H0 recomputed, dW and dW0, and the two correlations of dX).
"""
from .launch import Launcher, get_launcher, launch_counts

__all__ = ["Launcher", "get_launcher", "launch_counts"]
