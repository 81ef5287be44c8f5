r"""The charge of the neuron: a causal, dilated, channel-wise convolution across time.

This is the one place the equation lives; everything else links here.

.. math::

    H[t, n, c, s] = b_c + \sum_{i=0}^{k-1} W_{c,i}\; X[t - (k-1-i)\,d,\; n, c, s],
    \qquad X[t < 0] = 0

* ``X``: ``[T, N, C, S]`` — time first (SpikingJelly's multi-step layout), ``S`` the flattened
  trailing spatial dims (1 when there are none).
* ``W``: ``[C, k]``; tap ``k-1`` multiplies the current step, tap ``0`` the step
  ``(k-1)d`` in the past (the convention of SpikingJelly's ``SlidingPSN``).
* ``b``: ``[C]``; the threshold is folded into it (fire when ``H >= 0``).
* The receptive field of one layer is ``(k-1)d + 1`` steps.

Two torch implementations are given: :func:`charge_reference`, a plain loop over time and
taps used as the test oracle, and :func:`charge_torch`, the vectorised PyTorch path.
"""
from __future__ import annotations

import numbers

import torch

from .checks import check_dilation, check_taps

_LAYOUT = "[T, N, C, S]"


def receptive_field(k: int, dilation: int) -> int:
    """Number of steps one layer sees: ``(k - 1) * dilation + 1``.

    Example:
        >>> receptive_field(2, 3)
        4
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k: expected an integer >= 1 (taps per channel), got {k!r}")
    check_dilation(dilation)
    return window_length(k, dilation)


def window_length(k: int, dilation: int) -> int:
    """:func:`receptive_field` of an order and dilation checked already (the modules check
    them when they are set; their per-step path calls this).

    Example:
        >>> window_length(2, 3)
        4
    """
    return (k - 1) * dilation + 1


def charge_reference(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int
) -> torch.Tensor:
    """Test oracle: the equation above, one time step and one tap at a time.

    Args:
        x: ``[T, N, C, S]`` input current.
        weight: ``[C, k]`` taps; ``bias``: ``[C]`` or ``None``.
        dilation: ``d >= 1``.

    Returns:
        ``H``, shaped like ``x``.

    Example:
        >>> x = torch.ones(3, 1, 1, 1)
        >>> charge_reference(x, torch.tensor([[0.5, 1.0]]), None, 1).flatten().tolist()
        [1.0, 1.5, 1.5]
    """
    check_taps("x", x, _LAYOUT, weight, bias, dilation, exact_dims=True)
    T = x.shape[0]
    C, k = weight.shape
    w = weight.to(x.dtype)
    steps = []
    for t in range(T):
        acc = torch.zeros_like(x[0])
        for i in range(k):
            src = t - (k - 1 - i) * dilation
            if src >= 0:
                acc = acc + w[:, i].view(1, C, 1) * x[src]
        if bias is not None:
            acc = acc + bias.to(x.dtype).view(1, C, 1)
        steps.append(acc)
    return torch.stack(steps)


def toeplitz(weight: torch.Tensor, T: int, dilation: int) -> torch.Tensor:
    """Per-channel lower-triangular band matrix ``A`` with ``H[:, c] = A[c] @ X[:, c]``.

    Args:
        weight: ``[C, k]``; T: sequence length; dilation: ``d``.

    Returns:
        ``[C, T, T]`` with ``A[c, t, t - (k-1-i) d] = W[c, i]`` (differentiable in ``weight``).

    Example:
        >>> toeplitz(torch.tensor([[0.5, 1.0]]), 3, 1)[0].tolist()
        [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.5, 1.0]]
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError(f"weight: expected [C, k] taps, got {getattr(weight, 'shape', weight)!r}")
    if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 0:
        raise ValueError(f"T: expected an integer >= 0 (the sequence length), got {T!r}")
    check_dilation(dilation)
    return band_matrix(weight, T, dilation)


def band_matrix(weight: torch.Tensor, T: int, dilation: int) -> torch.Tensor:
    """:func:`toeplitz` without the argument checks (the torch backend's GEMM path, where the
    module has checked them and ``T`` may be symbolic under ``torch.compile``)."""
    C, k = weight.shape
    idx, mask = _band(T, k, dilation, weight.device, weight.dtype)
    return weight[:, idx].view(C, T, T) * mask


# Band patterns by (T, k, dilation, device, dtype): the pattern is a dozen small operations,
# and a training step of the GEMM path builds two bands.
_BANDS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
_MAX_BANDS = 64


def _band(T: int, k: int, dilation: int, device: torch.device, dtype: torch.dtype
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tap index [T*T], 0/1 mask [T, T])`` of the band of :func:`toeplitz` (cached, except
    while ``torch.compile`` traces, which folds the pattern into its graph itself)."""
    compiling = torch.compiler.is_compiling()
    key = (T, k, dilation, device, dtype)
    band = None if compiling else _BANDS.get(key)
    if band is None:
        # never inference tensors: autograd saves the index for the weight's gradient
        with torch.inference_mode(False):
            t = torch.arange(T, device=device)
            lag = t.view(T, 1) - t.view(1, T)
            tap = (k - 1) - torch.div(lag, dilation, rounding_mode="floor")
            valid = (lag >= 0) & (lag % dilation == 0) & (tap >= 0)
            band = (torch.where(valid, tap, torch.zeros_like(tap)).flatten(), valid.to(dtype))
        if not compiling:
            if len(_BANDS) >= _MAX_BANDS:
                _BANDS.clear()
            _BANDS[key] = band
    return band


def _charge_taps(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    T, C, k = x.shape[0], weight.shape[0], weight.shape[1]
    w = weight.view(1, 1, C, k, 1)
    h = x * w[..., k - 1, :]
    for i in range(k - 1):
        shift = (k - 1 - i) * dilation
        if shift < T:
            tail = h[shift:] + x[: T - shift] * w[..., i, :]
            h = torch.cat([h[:shift], tail]) if shift > 0 else tail
    return h


def _charge_toeplitz(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    T, N, C, S = x.shape
    xc = x.permute(2, 0, 1, 3).reshape(C, T, N * S)
    h = torch.bmm(band_matrix(weight, T, dilation), xc)
    return h.view(C, T, N, S).permute(1, 2, 0, 3)


def charge_torch(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int
) -> torch.Tensor:
    """Vectorised PyTorch charge, differentiable in all inputs.

    Picks between a shifted multiply-add per tap (cheap for small ``k``) and a per-channel
    banded matrix product (one batched GEMM, better when ``k`` is large and ``T`` short).

    Args:
        x: ``[T, N, C, S]``; weight: ``[C, k]``; bias: ``[C]`` or ``None``; dilation: ``d``.

    Returns:
        ``H`` shaped like ``x`` (see the module docstring for the equation).

    Example:
        >>> x = torch.randn(5, 2, 3, 4)
        >>> w, b = torch.randn(3, 2), torch.randn(3)
        >>> torch.allclose(charge_torch(x, w, b, 2), charge_reference(x, w, b, 2), atol=1e-6)
        True
    """
    check_taps("x", x, _LAYOUT, weight, bias, dilation, exact_dims=True)
    T = x.shape[0]
    k = weight.shape[1]
    live_taps = min(k, (T - 1) // dilation + 1)
    if live_taps > 4 and T <= 256:
        h = _charge_toeplitz(x, weight.to(x.dtype), dilation)
    else:
        h = _charge_taps(x, weight.to(x.dtype), dilation)
    if bias is not None:
        h = h + bias.to(x.dtype).view(1, 1, -1, 1)
    return h
