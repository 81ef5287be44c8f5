"""Backend registry: the one place where a backend name becomes code.

``backend='torch'`` is always available; ``backend='auto'`` times the others and keeps the
fastest (:mod:`~spikingjelly_mulfree.backends.autoselect`). Other backends register themselves
with :func:`register_backend`; asking for one that cannot run raises — there is no silent fallback.
"""
from __future__ import annotations

import torch

from .autoselect import AUTO_BACKEND, autoselect_report, clear_autoselect_cache
from .base import Backend
from .cupy_backend import CupyBackend
from .host_backend import HostBackend
from .torch_backend import TorchBackend

_REGISTRY: dict[str, Backend] = {"torch": TorchBackend(), "auto": AUTO_BACKEND}


def register_backend(backend: Backend) -> None:
    """Make ``backend`` (an object implementing :class:`~.base.Backend`) selectable by its
    ``name``, as ``CPSN(backend=name)``; it replaces a backend registered under that name.
    Registering one also makes it a candidate of ``backend='auto'``, so the package's own
    backends are registered on import and this needs no example that runs."""
    _REGISTRY[backend.name] = backend


register_backend(CupyBackend())
register_backend(CupyBackend("cupy-shift", use_shift=True))
register_backend(HostBackend())


def backend_names() -> tuple[str, ...]:
    """Names accepted by ``CPSN(backend=...)``.

    Example:
        >>> sorted(backend_names())
        ['auto', 'cpu', 'cupy', 'cupy-shift', 'torch']
    """
    return tuple(_REGISTRY)


def check_backend_name(name: str) -> str:
    """Raise a ``ValueError`` naming the allowed values unless ``name`` is registered.

    Example:
        >>> check_backend_name("torch")
        'torch'
        >>> check_backend_name("gpu")
        Traceback (most recent call last):
        ...
        ValueError: backend: expected one of (...), got 'gpu'
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"backend: expected one of {backend_names()}, got {name!r}"
        )
    return name


def get_backend(name: str, x: torch.Tensor) -> Backend:
    """The backend called ``name``, checked to be able to run on ``x``.

    Args:
        name: a registered backend name (:func:`backend_names`).
        x: the ``[T, N, C, S]`` input it is to run on (device, dtype).

    Raises:
        ValueError: unknown name. RuntimeError: the backend cannot run here (the message says
        why and what to do).

    Example:
        >>> get_backend("torch", torch.zeros(4, 2, 3, 1)).name
        'torch'
    """
    backend = _REGISTRY[check_backend_name(name)]
    reason = backend.unavailable_reason(x)
    if reason is not None:
        raise RuntimeError(f"backend={name!r} cannot run on this input: {reason}")
    return backend
