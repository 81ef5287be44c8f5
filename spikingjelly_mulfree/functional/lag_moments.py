r"""Moments of the un-biased charge from lagged sums of the input, without computing the charge.

With :math:`a_i = (k-1-i)d` the delay of tap :math:`i`, per channel

.. math::

    \sum_t H_0[t] = \sum_i W_i\, \mathrm{cum}(s)[T-1-a_i], \qquad
    \sum_t H_0[t]^2 = \sum_{i,j} W_i W_j\,
        \mathrm{cum}(L_{|i-j|})[T-1-\max(a_i, a_j)]

where :math:`s[u] = \sum_{n,p} X[u]` and :math:`L_m[u] = \sum_{n,p} X[u] X[u + m d]` are summed
over batch and space (:math:`p`), and :math:`\mathrm{cum}` is the running sum over :math:`u`. So a
training step reads ``X`` ``k + 1`` times for the statistics and never writes a second charge
tensor. The per-step sums are taken in the input's precision and combined in float64; the
variance then carries a relative error of about ``eps * (mean / std)^2`` (``eps`` the input
dtype's machine epsilon): negligible for normalised currents, noticeable in float32 only when
``|mean| / std`` exceeds about 30.
"""
from __future__ import annotations

import torch


def lag_sums(x: torch.Tensor, k: int, dilation: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``s [T, C]`` and ``L [k, T, C]`` (zero past ``T - m d``) from ``x [T, N, C, S]``, summed
    in the dtype of ``x`` and returned as float64."""
    T, _, C, _ = x.shape
    s = x.sum(dim=(1, 3)).double()
    lags = torch.zeros((k, T, C), dtype=torch.float64, device=x.device)
    for m in range(k):
        delta = m * dilation
        if delta < T:
            lags[m, : T - delta] = (x[: T - delta] * x[delta:]).sum(dim=(1, 3))
    return s, lags


def moments_from_lag_sums(
    s: torch.Tensor, lags: torch.Tensor, weight: torch.Tensor, dilation: int, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance ``[C]`` (float64) of the charge; differentiable in all inputs.

    Args:
        s, lags: from :func:`lag_sums`; weight: ``[C, k]``; count: ``T * N * S``.
    """
    k = weight.shape[1]
    T = s.shape[0]
    w = weight.to(torch.float64)
    delay = (k - 1 - torch.arange(k, device=s.device)) * dilation
    last = T - 1 - delay
    valid = last >= 0
    s_cum = torch.cumsum(s, dim=0)[last.clamp(min=0)] * valid.unsqueeze(1)
    total = (w * s_cum.T).sum(dim=1)
    lag_idx = (torch.arange(k).view(k, 1) - torch.arange(k).view(1, k)).abs().to(s.device)
    pair_last = T - 1 - torch.maximum(delay.view(k, 1), delay.view(1, k))
    pair_valid = (pair_last >= 0).to(torch.float64)
    l_cum = torch.cumsum(lags, dim=1)[lag_idx, pair_last.clamp(min=0)] * pair_valid.unsqueeze(2)
    total_sq = torch.einsum("ci,ijc,cj->c", w, l_cum, w)
    mean = total / count
    return mean, total_sq / count - mean.square()


class _LagSums(torch.autograd.Function):
    """:func:`lag_sums` of ``x`` taken in ``dtype``, keeping only ``x`` for backward (the
    sums are ``[k, T, C]``: their gradient goes back to ``x`` in ``k`` shifted products)."""

    @staticmethod
    def forward(ctx, x, k: int, dilation: int, dtype: torch.dtype):
        ctx.save_for_backward(x)
        ctx.k, ctx.dilation, ctx.dtype = k, dilation, dtype
        return lag_sums(x.to(dtype), k, dilation)

    @staticmethod
    def backward(ctx, g_s, g_lags):
        (x,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        T, C, d, dtype = x.shape[0], x.shape[2], ctx.dilation, ctx.dtype
        xw = x.to(dtype)
        grad_x = g_s.to(dtype).view(T, 1, C, 1).expand_as(xw).clone()
        grad_x.addcmul_(xw, 2 * g_lags[0].to(dtype).view(T, 1, C, 1))
        for m in range(1, ctx.k):
            delta = m * d
            if delta >= T:
                break
            g = g_lags[m, : T - delta].to(dtype).view(T - delta, 1, C, 1)
            grad_x[: T - delta].addcmul_(xw[delta:], g)
            grad_x[delta:].addcmul_(xw[: T - delta], g)
        return grad_x.to(x.dtype), None, None, None


def lag_moments(x: torch.Tensor, weight: torch.Tensor, dilation: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance ``[C]`` of the un-biased charge of ``x [T, N, C, S]`` under
    ``weight [C, k]``, in the dtype of ``weight``; autograd keeps ``x`` and the small sums.

    Example:
        >>> x, w = torch.randn(8, 2, 3, 1), torch.randn(3, 2)
        >>> mean, var = lag_moments(x, w, dilation=1)
        >>> mean.shape, bool((var >= 0).all())
        (torch.Size([3]), True)
    """
    s, lags = _LagSums.apply(x, weight.shape[1], dilation, weight.dtype)
    count = x.numel() // x.shape[2]
    mean, var = moments_from_lag_sums(s, lags, weight, dilation, count)
    return mean.to(weight.dtype), var.to(weight.dtype)
