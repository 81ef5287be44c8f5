r"""Moments of the un-biased charge from lagged sums of the input, without computing the charge.

Each step of the input is first centred on its own mean over batch and space,
:math:`X'[u] = X[u] - \bar X[u]`, so that the sums below stay at the scale of the input's
spread however large its mean. With :math:`a_i = (k-1-i)d` the delay of tap :math:`i`, per
channel the charge splits into :math:`H_0[t] = H_0'[t] + \mu[t]`, where
:math:`\mu[t] = \sum_i W_i \bar X[t - a_i]` (taps before the start read zero) and

.. math::

    \sum_{n,p} H_0'[t] = S[t] = \sum_i W_i\, s[t - a_i], \qquad
    \sum_{t,n,p} H_0'[t]^2 = \sum_{i,j} W_i W_j\,
        \mathrm{cum}(L_{|i-j|})[T-1-\max(a_i, a_j)]

with :math:`s[u] = \sum_{n,p} X'[u]` (zero but for rounding) and
:math:`L_m[u] = \sum_{n,p} X'[u] X'[u + m d]` summed over batch and space (:math:`p`), and
:math:`\mathrm{cum}` the running sum over :math:`u`. With :math:`n = T N P` values and the mean
:math:`m = (\sum_t S[t] + NP \sum_t \mu[t]) / n`, the biased variance is

.. math::

    \frac{1}{n}\Big(\sum H_0'^2 + 2 \sum_t (\mu[t] - m)\, S[t]
        + NP \sum_t (\mu[t] - m)^2\Big),

a sum of terms at the scale of the variance itself, so nothing large cancels. A training step
reads ``X`` ``k + 2`` times for the statistics and never writes a second charge tensor. The
per-step sums are taken in the weight's dtype and combined in float64.
"""
from __future__ import annotations

import torch

from .charge import charge_torch


BLOCK_ELEMENTS = 1 << 20
"""Elements of one time block's temporaries (the centred input and a lag product): the sums
are taken block by block, so the centring adds no full-size tensor."""


def _blocks(T: int, per_step: int, reach: int) -> list[tuple[int, int]]:
    """Time blocks ``[t0, t1)`` of about :data:`BLOCK_ELEMENTS` elements, each at least
    ``4 * reach`` steps long (a block also centres the ``reach`` steps after it). Under
    ``torch.compile`` one block: a loop over ``T`` would fix the sequence length in the graph,
    and the compiler fuses the centring anyway."""
    if torch.compiler.is_compiling() or T * per_step <= BLOCK_ELEMENTS:
        return [(0, T)]
    step = max(1, BLOCK_ELEMENTS // max(per_step, 1), 4 * reach)
    return [(t0, min(T, t0 + step)) for t0 in range(0, T, step)]


def centred_lag_sums(x: torch.Tensor, u: torch.Tensor, k: int, dilation: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``s [T, C]`` and ``L [k, T, C]`` (zero past ``T - m d``) of ``x - u`` for
    ``x [T, N, C, S]`` and per-step means ``u [T, C]``, summed in the dtype of ``u`` and
    returned as float64."""
    T, _, C, _ = x.shape
    s = torch.empty((T, C), dtype=torch.float64, device=x.device)
    lags = torch.zeros((k, T, C), dtype=torch.float64, device=x.device)
    reach = (k - 1) * dilation
    for t0, t1 in _blocks(T, x[0].numel(), reach):
        xc = _centred(x[t0:min(T, t1 + reach)], u[t0:min(T, t1 + reach)])
        s[t0:t1] = xc[: t1 - t0].sum(dim=(1, 3))
        for m in range(k):
            n = min(t1, T - m * dilation) - t0  # steps t of the block with t + m d < T
            if n <= 0:
                break
            lags[m, t0:t0 + n] = (xc[:n] * xc[m * dilation:m * dilation + n]).sum(dim=(1, 3))
    return s, lags


def _centred(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return x.to(u.dtype) - u.view(u.shape[0], 1, u.shape[1], 1)


def _delayed_sum(v: torch.Tensor, w: torch.Tensor, dilation: int) -> torch.Tensor:
    """The charge of per-step values ``v [T, C]`` under taps ``w [C, k]``, ``[T, C]``."""
    T, C = v.shape
    return charge_torch(v.view(T, 1, C, 1), w, None, dilation).view(T, C)


def moments_from_lag_sums(
    s: torch.Tensor, lags: torch.Tensor, weight: torch.Tensor, dilation: int, count: int,
    step_means: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance ``[C]`` (float64) of the charge; differentiable in all inputs.

    Args:
        s, lags: from :func:`centred_lag_sums`; weight: ``[C, k]``; count:
            ``T * N * S``; step_means: ``[T, C]``, the per-step means the input was centred
            on.
    """
    k = weight.shape[1]
    T = s.shape[0]
    w = weight.to(torch.float64)
    delay = (k - 1 - torch.arange(k, device=s.device)) * dilation
    lag_idx = (torch.arange(k).view(k, 1) - torch.arange(k).view(1, k)).abs().to(s.device)
    pair_last = T - 1 - torch.maximum(delay.view(k, 1), delay.view(1, k))
    pair_valid = (pair_last >= 0).to(torch.float64)
    l_cum = torch.cumsum(lags, dim=1)[lag_idx, pair_last.clamp(min=0)] * pair_valid.unsqueeze(2)
    centred_sq = torch.einsum("ci,ijc,cj->c", w, l_cum, w)
    per_step = _delayed_sum(s, w, dilation)
    values_per_step = count / T
    mu = _delayed_sum(step_means.to(torch.float64), w, dilation)
    mean = (per_step.sum(dim=0) + values_per_step * mu.sum(dim=0)) / count
    dev = mu - mean
    sq = centred_sq + 2 * (dev * per_step).sum(dim=0) + values_per_step * dev.square().sum(dim=0)
    return mean, (sq / count).clamp(min=0)


class _CentredLagSums(torch.autograd.Function):
    """``(s, L, u)``: the per-step means ``u [T, C]`` of ``x`` (in ``dtype``) and
    :func:`centred_lag_sums`; keeps only ``x`` for backward, whose gradient is a per-step
    projection of the sums' (plus the means' spread evenly), added in place."""

    @staticmethod
    def forward(ctx, x, k: int, dilation: int, dtype: torch.dtype):
        ctx.save_for_backward(x)
        ctx.k, ctx.dilation, ctx.dtype = k, dilation, dtype
        u = x.mean(dim=(1, 3), dtype=dtype)
        s, lags = centred_lag_sums(x, u, k, dilation)
        return s, lags, u

    @staticmethod
    def backward(ctx, g_s, g_lags, g_u):
        (x,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        T, C, d = x.shape[0], x.shape[2], ctx.dilation
        g_lags = g_lags.to(ctx.dtype)
        # the lag sums' gradient at x - u is their gradient at x less a constant per step and
        # channel (the u terms), which the centring's projection below removes: x serves
        grad = x * (2 * g_lags[0]).view(T, 1, C, 1)
        for m in range(1, ctx.k):
            delta = m * d
            if delta >= T:
                break
            g = g_lags[m, : T - delta].view(T - delta, 1, C, 1)
            grad[: T - delta].addcmul_(x[delta:], g)
            grad[delta:].addcmul_(x[: T - delta], g)
        # x - u(x) passes on only the part of a step's gradient that sums to zero (so g_s, a
        # constant per step, drops out); u(x) adds its own gradient evenly
        shift = g_u.to(grad.dtype) / (x[0].numel() // C) - grad.mean(dim=(1, 3))
        grad += shift.view(T, 1, C, 1)
        return grad.to(x.dtype), None, None, None


def lag_moments(x: torch.Tensor, weight: torch.Tensor, dilation: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance ``[C]`` of the un-biased charge of ``x [T, N, C, S]`` under
    ``weight [C, k]``, in the dtype of ``weight``; autograd keeps ``x`` and small sums.

    Example:
        >>> x, w = 300 + 0.01 * torch.randn(40, 4, 3, 5), torch.ones(3, 1)
        >>> mean, var = lag_moments(x, w, dilation=1)
        >>> torch.allclose(var, x.transpose(0, 2).reshape(3, -1).var(1, unbiased=False),
        ...                rtol=1e-3)
        True
    """
    dtype = weight.dtype
    s, lags, u = _CentredLagSums.apply(x, weight.shape[1], dilation, dtype)
    count = x.numel() // x.shape[2]
    mean, var = moments_from_lag_sums(s, lags, weight, dilation, count, u)
    return mean.to(dtype), var.to(dtype)
