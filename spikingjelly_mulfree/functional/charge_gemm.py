"""The banded-GEMM torch path (large ``k``, short ``T``) in channel-major layout.

The charge of channel ``c`` is ``A_c @ X_c`` with ``A_c`` the ``[T, T]`` band matrix of
:func:`~spikingjelly_mulfree.functional.charge.toeplitz` and ``X_c`` the ``[T, N*S]`` slice of the
input. One layout copy to ``[C, T, N*S]`` serves both passes of the BatchNorm threshold:

* the moments of the un-biased charge come from the per-step means ``u`` and the per-channel
  ``[T, T]`` covariance of the centred input (:func:`centred_gram`, a GEMM that writes no
  ``[T, N*S]`` output):
  ``var = mean_t diag(A Cov A^T) + var_t(A u)`` — exact, and free of the cancellation of
  ``E[H^2] - E[H]^2``;
* the charge is computed on the centred input plus the rank-one correction ``A u + b``.
"""
from __future__ import annotations

from typing import Callable

import torch

from .charge import band_matrix


class _ToChannelMajor(torch.autograd.Function):
    """The layout copy, with a backward that writes the input's gradient in one copy in the
    input's layout (autograd's own, through ``copy_`` into a view, takes two)."""

    @staticmethod
    def forward(ctx, x, dtype):
        T, N, C, S = x.shape
        out = torch.empty((C, T, N * S), dtype=dtype, device=x.device)
        out.view(C, T, N, S).copy_(x.permute(2, 0, 1, 3))
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return out

    @staticmethod
    def backward(ctx, grad):
        T, N, C, S = ctx.shape
        grad_x = torch.empty(ctx.shape, dtype=ctx.dtype, device=grad.device)
        grad_x.copy_(grad.view(C, T, N, S).permute(1, 2, 0, 3))
        return grad_x, None


def to_channel_major(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[T, N, C, S]`` -> a fresh contiguous ``[C, T, N*S]`` copy in ``dtype`` (one pass)."""
    return _ToChannelMajor.apply(x, dtype)


def from_channel_major(y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``[C, T, N*S]`` or ``[C, T, N, S]`` -> ``[T, N, C, S]`` (a strided view)."""
    T, N, C, S = shape
    return y.view(C, T, N, S).permute(1, 2, 0, 3)


def _centre_in_place(xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    u = xc.mean(dim=2)
    xc.sub_(u.unsqueeze(2))
    return xc, u, torch.bmm(xc, xc.transpose(1, 2)).div_(xc.shape[2])


class _CentredGram(torch.autograd.Function):
    """Centre ``xc [C, T, M]`` over ``M`` in place and return ``(xc - u, u, cov)`` with
    ``u [C, T]`` the means and ``cov [C, T, T] = (xc - u)(xc - u)^T / M``.

    Backward in one GEMM: because the centred input has zero mean over ``M``, the gradient of
    ``xc`` is ``g_xcc - mean_M(g_xcc) + g_u / M + (g_cov + g_cov^T)(xc - u) / M``, accumulated
    into ``g_xcc`` in place (the centred tensor is internal: the charge GEMM is its only user, so
    nothing else holds that gradient).
    """

    @staticmethod
    def forward(ctx, xc):
        out = _centre_in_place(xc)
        ctx.mark_dirty(xc)
        ctx.save_for_backward(xc)
        return out

    @staticmethod
    def backward(ctx, g_xcc, g_u, g_cov):
        (xcc,) = ctx.saved_tensors
        M = xcc.shape[2]
        sym = (g_cov + g_cov.transpose(1, 2)).div_(M)
        if g_xcc is None:
            return torch.baddbmm((g_u / M).unsqueeze(2), sym, xcc)
        shift = (g_u / M - g_xcc.mean(dim=2)).unsqueeze(2)
        return g_xcc.baddbmm_(sym, xcc).add_(shift)


def centred_gram(xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(xc - u, u, cov)`` for a fresh layout copy ``xc [C, T, M]`` (overwritten): ``u [C, T]``
    the mean over ``M`` of each channel and step, ``cov [C, T, T]`` the covariance between steps.

    Without a gradient to record the centring runs as plain ops: ``torch.compile`` cannot trace
    the ``mark_dirty`` the autograd function needs, and inlines the function when nothing
    requires a gradient."""
    if torch.is_grad_enabled() and xc.requires_grad:
        return _CentredGram.apply(xc)
    return _centre_in_place(xc)


def gemm_moments(
    u: torch.Tensor, cov: torch.Tensor, weight: torch.Tensor, dilation: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance ``[C]`` of the un-biased charge from the per-step means ``u``
    and covariance ``cov`` of :func:`centred_gram`."""
    T = u.shape[1]
    a = band_matrix(weight, T, dilation)
    mu_t = torch.bmm(a, u.unsqueeze(2)).squeeze(2)
    within = (torch.bmm(a, cov) * a).sum(dim=(1, 2)) / T
    mean = mu_t.mean(dim=1)
    return mean, within + (mu_t - mean.unsqueeze(1)).square().mean(dim=1)


class GemmChargeFire(torch.autograd.Function):
    """Spikes ``[C, T, N, S]`` of ``A @ xc + offset`` (``offset [C, T]``, ``xc [C, T, N*S]``)
    with a fused surrogate derivative; keeps ``xc`` and recomputes the charge in backward.

    The spikes come out 4-d so that their gradient, which arrives as a strided view of the
    caller's ``[T, N, C, S]`` layout, is read in place by the surrogate's derivative instead of
    being copied to ``[C, T, N*S]`` first."""

    @staticmethod
    def forward(ctx, xc, a, offset, sg_grad: Callable, N: int):
        ctx.save_for_backward(xc, a, offset)
        ctx.sg_grad = sg_grad
        C, T, M = xc.shape
        return torch.baddbmm(offset.unsqueeze(2), a, xc).ge_(0).view(C, T, N, M // N)

    @staticmethod
    def backward(ctx, grad_s):
        xc, a, offset = ctx.saved_tensors
        h = torch.baddbmm(offset.unsqueeze(2), a, xc)
        grad_h = ctx.sg_grad(grad_s.to(h.dtype), h.view(grad_s.shape)).reshape(h.shape)
        grad_x = torch.bmm(a.transpose(1, 2), grad_h) if ctx.needs_input_grad[0] else None
        grad_a = torch.bmm(grad_h, xc.transpose(1, 2)) if ctx.needs_input_grad[1] else None
        grad_off = grad_h.sum(dim=2) if ctx.needs_input_grad[2] else None
        return grad_x, grad_a, grad_off, None, None


def gemm_charge_fire(
    xc: torch.Tensor, u: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor,
    dilation: int, surrogate_function: torch.nn.Module, sg_grad: Callable | None, N: int,
) -> torch.Tensor:
    """Spikes ``[C, T, N, S]`` (``[C, T, N*S]`` for a surrogate without a fused derivative) of
    the charge of ``xc + u`` (``u`` is ``None`` when ``xc`` is not centred), ``N`` samples."""
    T = xc.shape[1]
    a = band_matrix(weight, T, dilation)
    offset = bias.unsqueeze(1).expand(-1, T)
    if u is not None:
        offset = offset + torch.bmm(a, u.unsqueeze(2)).squeeze(2)
    if sg_grad is not None:
        return GemmChargeFire.apply(xc, a, offset, sg_grad, N)
    return surrogate_function(torch.baddbmm(offset.unsqueeze(2), a, xc))
