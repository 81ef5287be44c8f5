"""The BatchNorm threshold's per-channel work in one kernel launch each
(``cupy_kernels/cpsn_fold.cu``): the effective kernel, its gradient, the running statistics.

:func:`fold_kernel` computes what :func:`spikingjelly_mulfree.functional.threshold.fold_kernel`
computes with about twenty small tensor operations (the BatchNorm folding of
:mod:`~spikingjelly_mulfree.functional.threshold`, then the quantizer of
:mod:`~spikingjelly_mulfree.functional.quantize`), and its backward in one more: at short
sequences on a GPU every operation is a launch that costs as much as the layer's data. The
quantizer works on the weights' bits (exact rounding in the log2 domain); its gradient is the
identity, as in the torch version. :func:`update_running_stats` is the exponential average of
the batch statistics, in place.

Example:
    >>> import torch
    >>> w = torch.tensor([[0.3, -1.0]])
    >>> bn = (torch.tensor([2.0]), torch.tensor([4.0]), torch.ones(1), -torch.ones(1), 0.0)
    >>> wf, bf = fold_kernel(w, bn, (-24, 8))
    >>> wf.tolist(), bf.tolist()
    ([[0.125, -0.5]], [-2.0])
"""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from ..functional import threshold
from ..functional.quantize import _check_range
from ..functional.threshold import BN
from . import ops
from .launch import get_launcher
from .ops import SUFFIX, _thread_grid, as_kernel_arg, tracks_grad


def _check(weight: torch.Tensor, bn: BN | None) -> None:
    if weight.dtype not in (torch.float32, torch.float64) or weight.dim() != 2:
        raise TypeError(
            f"weight: expected a float32 or float64 [C, k] tensor (the accumulator type), got "
            f"{weight.dtype} of shape {tuple(weight.shape)}"
        )
    if bn is None:
        return
    dtype, channels, device = weight.dtype, weight.shape[:1], weight.device
    for name, t in zip(("mean", "var", "gamma", "beta"), bn[:4]):
        if t.dtype != dtype or t.shape != channels or t.device != device:
            raise ValueError(
                f"{name}: expected a [{weight.shape[0]}] {weight.dtype} tensor on "
                f"{weight.device} like the weight's channels, got {t.dtype} of shape "
                f"{tuple(t.shape)} on {t.device}"
            )


def _check_channels(C: int, **tensors: torch.Tensor | None) -> None:
    """Each of ``tensors`` (``None``: absent) must hold one value per channel, ``[C]``: the
    kernels read and write ``C`` values with no bounds of their own."""
    for name, t in tensors.items():
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(
                f"{name}: expected [{C}], one value per channel of the {C}-channel weight, got "
                f"shape {tuple(t.shape)}; a CPSN's threshold tensors (bn_weight = gamma, "
                f"bn_bias = beta, running_mean, running_var) must match its channels"
            )


def _scalar_arg(value: float, dtype: torch.dtype):
    """A scalar kernel argument in the accumulator type ``dtype``."""
    return np.float64(value) if dtype == torch.float64 else float(value)


def fold_values(weight: torch.Tensor, bn: BN | None, exp_range: tuple[int, int] | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`fold_kernel`'s values in one launch, without autograd (only the tensors' shapes
    are checked).

    Example:
        >>> wf, bf = fold_values(torch.tensor([[0.3, -3.0]]), None, (-4, 4))
        >>> wf.tolist(), bf
        ([[0.25, -4.0]], None)
    """
    w = as_kernel_arg(weight, weight.dtype)
    C, k = w.shape
    launcher = get_launcher(w.device)
    wf = torch.empty_like(w)
    bf = None
    mean = var = gamma = beta = None
    eps = 0.0
    if bn is not None:
        _check_channels(C, mean=bn[0], var=bn[1], gamma=bn[2], beta=bn[3])
        mean, var, gamma, beta = (as_kernel_arg(t, w.dtype) for t in bn[:4])
        eps = bn[4]
        bf = torch.empty_like(mean)
    lo, hi = exp_range if exp_range is not None else (0, 0)
    launcher.launch(f"cpsn_fold_{SUFFIX[w.dtype]}", _thread_grid(launcher, C),
                    (w, mean, var, gamma, beta, wf, bf, C, k, _scalar_arg(eps, w.dtype),
                     exp_range is not None, lo, hi), w.device)
    return wf, bf


def moments_and_fold(x: torch.Tensor, weight: torch.Tensor, dilation: int, gamma: torch.Tensor,
                     beta: torch.Tensor, eps: float, exp_range: tuple[int, int] | None
                     ) -> tuple[torch.Tensor, ...]:
    """``(mean, var, W_f, b_f)``: :func:`.ops.moments` of ``x`` ``[T, N, C, S]`` under the
    latent ``weight`` ``[C, k]`` (accumulator type), then :func:`fold_values` of them with
    ``gamma`` and ``beta`` ``[C]``, the final reduction and the fold in one launch
    (``cpsn_moments_fold``), without autograd.

    Example:
        >>> from spikingjelly_mulfree.kernels import ops
        >>> x, w = torch.randn(6, 2, 3, 4), torch.rand(3, 2)
        >>> gamma, beta = torch.ones(3), torch.zeros(3)
        >>> mean, var, wf, bf = moments_and_fold(x, w, 1, gamma, beta, 1e-5, (-8, 2))
        >>> m, v = ops.moments(x, w, 1)
        >>> e = fold_values(w, (m, v, gamma, beta, 1e-5), (-8, 2))
        >>> all(torch.equal(a, b) for a, b in zip((mean, var, wf, bf), (m, v, *e)))
        True
    """
    launcher, part, ny, S, mean, var = ops.moment_partials(x, weight, dilation)
    w = as_kernel_arg(weight, mean.dtype)
    C, k = w.shape
    _check_channels(C, gamma=gamma, beta=beta)
    ops.check_not_narrowed("gamma", gamma, x)
    ops.check_not_narrowed("beta", beta, x)
    gamma, beta = as_kernel_arg(gamma, w.dtype), as_kernel_arg(beta, w.dtype)
    wf = torch.empty_like(w)
    bf = torch.empty_like(mean)
    lo, hi = exp_range if exp_range is not None else (0, 0)
    launcher.launch(f"cpsn_moments_fold_{SUFFIX[w.dtype]}", _thread_grid(launcher, C),
                    (part, mean, var, ny, C, S, w, gamma, beta, wf, bf, k,
                     _scalar_arg(eps, w.dtype), exp_range is not None, lo, hi), x.device)
    return mean, var, wf, bf


def fold_grads(weight: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
               gamma: torch.Tensor, eps: float, grad_wf: torch.Tensor | None,
               grad_bf: torch.Tensor | None, mean_div: float = 1.0, var_scale: float = 1.0
               ) -> tuple[torch.Tensor, ...]:
    """Gradients ``(weight, mean / mean_div, var * var_scale, gamma, beta)`` of the BatchNorm
    fold from those of its outputs (``None``: zero), in one launch (``mean_div = n``,
    ``var_scale = 2 / n`` give the coefficients of the moments' backward over ``n`` values per
    channel)."""
    C, k = weight.shape
    _check_channels(C, mean=mean, var=var, gamma=gamma, grad_bf=grad_bf)
    if grad_wf is not None and grad_wf.shape != weight.shape:
        raise ValueError(f"grad_wf: expected {tuple(weight.shape)} like the weight, got "
                         f"{tuple(grad_wf.shape)}")
    weight, mean, var, gamma = (as_kernel_arg(t, weight.dtype)
                                for t in (weight, mean, var, gamma))
    gwf = torch.zeros_like(weight) if grad_wf is None else as_kernel_arg(grad_wf, weight.dtype)
    gbf = torch.zeros_like(mean) if grad_bf is None else as_kernel_arg(grad_bf, weight.dtype)
    launcher = get_launcher(weight.device)
    gw = torch.empty_like(weight)
    g4 = torch.empty(4, C, dtype=weight.dtype, device=weight.device)
    launcher.launch(f"cpsn_fold_backward_{SUFFIX[weight.dtype]}", _thread_grid(launcher, C),
                    (weight, mean, var, gamma, gwf, gbf, gw, g4, C, k,
                     *(_scalar_arg(v, weight.dtype) for v in (eps, mean_div, var_scale))),
                    weight.device)
    return (gw, *g4.unbind(0))


class _FoldBN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, mean, var, gamma, beta, eps, exp_range):
        wf, bf = fold_values(weight, (mean, var, gamma, beta, eps), exp_range)
        ctx.save_for_backward(weight, mean, var, gamma)
        ctx.eps = eps
        return wf, bf

    @staticmethod
    @once_differentiable
    def backward(ctx, gwf, gbf):
        return (*fold_grads(*ctx.saved_tensors, ctx.eps, gwf, gbf), None, None)


class _Quantize(torch.autograd.Function):
    """The quantizer alone (no BatchNorm); straight-through gradient."""

    @staticmethod
    def forward(ctx, weight, exp_range):
        return fold_values(weight, None, exp_range)[0]

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def fold_kernel(weight: torch.Tensor, bn: BN | None, exp_range: tuple[int, int] | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Effective taps (and bias) of a layer, on the kernels, differentiable.

    Args:
        weight: latent taps ``[C, k]``, float32 or float64 (CPU: host build; CUDA: CuPy).
        bn: ``(mean, var, gamma, beta, eps)`` of the BatchNorm threshold (tensors ``[C]`` in
            ``weight``'s dtype and device), or ``None``.
        exp_range: ``(min_exp, max_exp)`` of the power-of-two quantizer, or ``None`` for
            none.

    Returns:
        ``(W_f [C, k], b_f [C] or None)``, equal to
        :func:`spikingjelly_mulfree.functional.threshold.fold_kernel` up to the rounding of
        the folding's few operations (which it runs instead under ``torch.compile``: the
        compiler fuses them).

    Example:
        >>> from spikingjelly_mulfree.functional import threshold
        >>> w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        >>> bn = (torch.rand(3).double(), torch.rand(3).double() + 0.5, torch.ones(3).double(),
        ...       torch.zeros(3).double(), 1e-5)
        >>> wf, bf = fold_kernel(w, bn, None)
        >>> ref_w, ref_b = threshold.fold_kernel(w, bn, None)
        >>> torch.allclose(wf, ref_w), torch.allclose(bf, ref_b), wf.requires_grad
        (True, True, True)
    """
    _check(weight, bn)
    if exp_range is not None:
        _check_range(*exp_range)
    if torch.compiler.is_compiling():
        return threshold.fold_kernel(weight, bn, exp_range)
    if bn is None:
        if exp_range is None:
            return weight, None
        if not tracks_grad(weight):
            return fold_values(weight, None, exp_range)[0], None
        return _Quantize.apply(weight, exp_range), None
    if not tracks_grad(weight, *bn[:4]):
        return fold_values(weight, bn, exp_range)
    return _FoldBN.apply(weight, *bn, exp_range)


def update_running_stats(running_mean: torch.Tensor, running_var: torch.Tensor,
                         mean: torch.Tensor, var: torch.Tensor, count: int, momentum: float
                         ) -> None:
    """:func:`spikingjelly_mulfree.functional.threshold.update_running_stats` in one launch
    (in place, no gradient) when the buffers are contiguous and in the statistics' dtype
    (float32 or float64); otherwise, and under ``torch.compile``, as the values are the same,
    through that function.

    Example:
        >>> rm, rv = torch.zeros(2), torch.ones(2)
        >>> update_running_stats(rm, rv, torch.tensor([1.0, 2.0]), torch.tensor([2.0, 2.0]),
        ...                      3, 0.5)
        >>> rm.tolist(), rv.tolist()
        ([0.5, 1.0], [2.0, 2.0])
    """
    C = mean.shape[0]
    _check_channels(C, running_mean=running_mean, running_var=running_var, var=var)
    dtype = mean.dtype
    if (torch.compiler.is_compiling() or dtype not in (torch.float32, torch.float64)
            or running_mean.dtype != dtype
            or running_var.dtype != dtype or not running_mean.is_contiguous()
            or not running_var.is_contiguous()):
        threshold.update_running_stats(running_mean, running_var, mean, var, count, momentum)
        return
    launcher = get_launcher(mean.device)
    launcher.launch(f"cpsn_running_stats_{SUFFIX[dtype]}", _thread_grid(launcher, C),
                    (running_mean, running_var, as_kernel_arg(mean, dtype),
                     as_kernel_arg(var, dtype), C, _scalar_arg(momentum, dtype),
                     _scalar_arg(count / max(count - 1, 1), dtype)), mean.device)
