"""``backend='cpu'``: the CUDA kernel sources built for the host (g++ + OpenMP).

The same Python path as ``backend='cupy'`` (:class:`~.cupy_backend.KernelBackend`) on CPU
tensors; the library is built on first use and cached (see
:mod:`spikingjelly_mulfree.kernels.host`).
Power-of-two taps are multiplied here rather than exponent-added: a multiply vectorises on the
CPU while a branchy exponent add does not, and the results are bit-identical but for the last
bit of a sum of subnormal products (as between ``'cupy'`` and ``'cupy-shift'``).

Example:
    >>> import torch
    >>> from spikingjelly_mulfree import CPSN
    >>> CPSN(4, k=2, backend="cpu")(torch.randn(6, 2, 4)).shape
    torch.Size([6, 2, 4])
"""
from __future__ import annotations

from ..kernels.host import compiler
from .cupy_backend import KernelBackend


class HostBackend(KernelBackend):
    """``backend='cpu'``: the kernels on CPU tensors through the host build (its methods and
    their shapes: :class:`~.cupy_backend.KernelBackend`).

    Example:
        >>> import torch
        >>> backend = HostBackend()
        >>> backend.unavailable_reason(torch.zeros(4, 2, 3, 1)) is None, backend.use_shift
        (True, False)
    """

    def __init__(self):
        super().__init__("cpu", "cpu", use_shift=False)
        self._compiler = compiler()

    def _target_reason(self) -> str | None:
        if self._compiler is None:
            return ("no host C++ compiler (g++ or $CXX) to build the CPU kernels: install "
                    "g++, or use backend='torch'")
        return None
