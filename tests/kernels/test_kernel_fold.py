"""The one-launch effective kernel (cupy_kernels/cpsn_fold.cu) against the torch fold, on both
host layouts: the quantizer on the bits against an exact rational reference, the BatchNorm
folding and its gradients against autograd, the double eps argument, and the module paths that
use it."""
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.backends import get_backend
from spikingjelly_mulfree.backends.autoselect import ENV_VAR
from spikingjelly_mulfree.functional.quantize import quantize_pow2
from spikingjelly_mulfree.functional.threshold import fold_kernel as torch_fold
from spikingjelly_mulfree.kernels import launch_counts
from spikingjelly_mulfree.functional.threshold import update_running_stats as torch_running
from spikingjelly_mulfree.kernels.fold import (fold_kernel, fold_values, moments_and_fold,
                                               update_running_stats)

SUF = {torch.float32: "f32", torch.float64: "f64"}
MANTISSA_BITS = {torch.float32: 23, torch.float64: 52}


def exact_q(v: float, lo: int, hi: int, dtype: torch.dtype) -> float:
    """Q(v) from exact rationals: round(log2 |v|) is e - 1 or e for |v| = m 2^e, m in [1/2, 1),
    whichever side of sqrt(1/2) m lies (2 m^2 against 1)."""
    if math.isnan(v):
        return v
    if v == 0:
        return 0.0
    if math.isinf(v):
        e = hi
    else:
        m, e = math.frexp(abs(v))
        e = e if 2 * Fraction(m) ** 2 > 1 else e - 1
        if e < lo:
            return 0.0
        e = min(e, hi)
    finfo = torch.finfo(dtype)
    tiny = math.log2(finfo.smallest_normal) - MANTISSA_BITS[dtype]  # the smallest subnormal
    if e < tiny:
        return 0.0
    mag = math.inf if e > math.frexp(finfo.max)[1] - 1 else math.ldexp(1.0, e)
    return math.copysign(mag, v)


def boundary_values(dtype: torch.dtype) -> torch.Tensor:
    """Each exponent's neighbours of 2^(e + 1/2) (the rounding boundary), powers of two,
    subnormals, zero, infinities and NaN, both signs."""
    finfo = torch.finfo(dtype)
    lo = int(math.log2(finfo.smallest_normal))
    vals = []
    for e in range(lo, math.frexp(finfo.max)[1], 3 if dtype == torch.float64 else 1):
        b = torch.tensor(math.sqrt(2.0) * 2.0 ** (e - 1) * 2, dtype=torch.float64).to(dtype)
        up = torch.nextafter(b, torch.tensor(math.inf, dtype=dtype))
        down = torch.nextafter(b, torch.tensor(-math.inf, dtype=dtype))
        vals += [b.item(), up.item(), down.item(), 2.0 ** e]
    sub = finfo.smallest_normal * 2.0 ** -MANTISSA_BITS[dtype]
    vals += [sub, 3 * sub, 11 * sub, finfo.smallest_normal * 0.71, finfo.smallest_normal * 0.70,
             finfo.max, 0.0, math.inf, math.nan]
    v = torch.tensor(vals, dtype=torch.float64).to(dtype)
    return torch.cat([v, -v])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lo,hi", [(-24, 8), (-3, 1), (-2000, 2000), (5, 5)])
def test_quantizer_on_the_bits_is_exact(host, dtype, lo, hi):
    v = boundary_values(dtype)
    wf, bf = fold_kernel(v.view(1, -1), None, (lo, hi))
    expect = torch.tensor([exact_q(a, lo, hi, dtype) for a in v.tolist()], dtype=dtype)
    assert bf is None
    assert torch.isnan(expect).sum() == 2  # +-NaN stays NaN
    same = (wf.view(-1) == expect) | (torch.isnan(wf.view(-1)) & torch.isnan(expect))
    assert same.all(), (v[~same], wf.view(-1)[~same])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantizer_matches_torch_on_random_weights(host, dtype):
    w = torch.randn(64, 33, dtype=dtype) * torch.logspace(-30, 5, 33, base=2.0, dtype=dtype)
    before = launch_counts[f"cpsn_fold_{SUF[dtype]}"]
    wf, _ = fold_kernel(w, None, (-24, 8))
    assert launch_counts[f"cpsn_fold_{SUF[dtype]}"] == before + 1
    assert torch.equal(wf, quantize_pow2(w, -24, 8))


def bn_case(C: int, k: int, dtype: torch.dtype, var_zero: bool = False):
    w = torch.randn(C, k, dtype=dtype, requires_grad=True)
    mean = torch.randn(C, dtype=dtype, requires_grad=True)
    var = torch.rand(C, dtype=dtype) * 3
    if var_zero:
        var[0] = 0.0
    gamma = (torch.rand(C, dtype=dtype) + 0.5).requires_grad_()
    beta = torch.randn(C, dtype=dtype, requires_grad=True)
    return w, (mean, var.requires_grad_(), gamma, beta, 1e-5)


def exact_fold(w, bn, exp_range):
    """The kernel's formula in numpy, whose square roots and quotients are correctly rounded
    (torch's CPU ``sqrt`` and ``rsqrt`` are not always, in float32 or float64)."""
    mean, var, gamma, beta = (t.detach().numpy() for t in bn[:4])
    eps = np.asarray(bn[4], dtype=mean.dtype)
    s = gamma * (np.asarray(1, dtype=mean.dtype) / np.sqrt(var + eps))
    wf = torch.from_numpy(w.detach().numpy() * s[:, None])
    b = torch.from_numpy(beta - mean * s)
    return (quantize_pow2(wf, *exp_range) if exp_range else wf), b


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("exp_range", [None, (-24, 8), (-4, 0)])
@pytest.mark.parametrize("C,k", [(1, 1), (7, 3), (300, 16)])
def test_bn_fold_forward(host, dtype, exp_range, C, k):
    w, bn = bn_case(C, k, dtype, var_zero=True)
    wf, bf = fold_kernel(w, bn, exp_range)
    ref_w, ref_b = exact_fold(w, bn, exp_range)
    assert torch.equal(wf, ref_w)
    # beta - mean * s: the compiler may fuse the two into one rounding, which moves the result
    # by up to an ulp of either term
    mean, var, gamma, beta, eps = bn
    scale = (beta.abs() + (mean * gamma / torch.sqrt(var + eps)).abs()).detach()
    eps = torch.finfo(dtype).eps
    assert ((bf - ref_b).abs() <= eps * scale).all()
    tw, tb = torch_fold(w, bn, exp_range)
    assert ((bf - tb).abs() <= 4 * eps * scale).all()
    if exp_range is None:
        torch.testing.assert_close(wf, tw, rtol=4 * eps, atol=0)


def test_eps_reaches_the_double_kernel_in_double(host):
    """A zero-variance channel's scale is gamma / sqrt(eps): 1e-5 rounded to float32 would
    change it by about 1e-8."""
    w = torch.ones(1, 1, dtype=torch.float64)
    bn = tuple(torch.tensor([v], dtype=torch.float64) for v in (0.0, 0.0, 1.0, 0.0)) + (1e-5,)
    wf, _ = fold_kernel(w, bn, None)
    assert wf.item() == 1.0 / math.sqrt(1e-5)


@pytest.mark.parametrize("exp_range", [None, (-24, 8)])
@pytest.mark.parametrize("use", ["both", "weight", "bias"])
def test_bn_fold_backward_matches_autograd(host, exp_range, use):
    dtype = torch.float64
    w, bn = bn_case(9, 4, dtype)
    leaves = [w, *bn[:4]]
    gw, gb = torch.randn(9, 4, dtype=dtype), torch.randn(9, dtype=dtype)

    def loss(fold):
        wf, bf = fold(w, bn, exp_range)
        parts = {"weight": (wf * gw).sum(), "bias": (bf * gb).sum()}
        return parts["weight"] + parts["bias"] if use == "both" else parts[use]

    before = launch_counts["cpsn_fold_backward_f64"]
    got = torch.autograd.grad(loss(fold_kernel), leaves, allow_unused=True)
    assert launch_counts["cpsn_fold_backward_f64"] == before + 1
    ref = torch.autograd.grad(loss(torch_fold), leaves, allow_unused=True)
    for name, g, r in zip(("weight", "mean", "var", "gamma", "beta"), got, ref):
        r = torch.zeros_like(g) if r is None else r
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12, msg=name)


def test_bad_arguments_are_named(host):
    with pytest.raises(TypeError, match="weight: expected a float32 or float64"):
        fold_kernel(torch.ones(2, 3, dtype=torch.float16), None, (-24, 8))
    w = torch.ones(2, 3)
    bad = (torch.zeros(3), torch.ones(2), torch.ones(2), torch.zeros(2), 1e-5)
    with pytest.raises(ValueError, match=r"mean: expected a \[2\] torch.float32"):
        fold_kernel(w, bad, None)
    with pytest.raises(ValueError, match="min_exp <= max_exp"):
        fold_kernel(w, None, (3, 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("exp_range", [None, (-6, 1)])
@pytest.mark.parametrize("shape", [(5, 3, 4, 6), (3, 2, 70, 2), (2, 1, 3, 5000)],
                         ids=["small", "channel-blocks", "chunked"])
def test_moments_and_fold_equal_their_two_launches(host, dtype, exp_range, shape):
    """The training forward's one launch gives the moments and the effective kernel bit for
    bit as the moments' reduction and the fold do one after the other, also over several
    blocks of channels (the GPU layout's 32 threads a block) and when the partials take the
    first (chunked) stage of the reduction."""
    from spikingjelly_mulfree.kernels import ops

    x = torch.randn(shape, dtype=dtype)
    w = torch.randn(shape[2], 3, dtype=dtype)
    gamma, beta = torch.rand(shape[2], dtype=dtype) + 0.5, torch.randn(shape[2], dtype=dtype)
    chunks = launch_counts[f"cpsn_reduce_moments_chunks_{SUF[dtype]}"]
    got = moments_and_fold(x, w, 2, gamma, beta, 1e-5, exp_range)
    mean, var = ops.moments(x, w, 2)
    want = (mean, var, *fold_values(w, (mean, var, gamma, beta, 1e-5), exp_range))
    for a, b in zip(got, want):
        assert a.dtype == dtype and torch.equal(a, b)
    if shape[-1] == 5000:  # over either layout's single-stage limit
        assert launch_counts[f"cpsn_reduce_moments_chunks_{SUF[dtype]}"] == chunks + 2


def test_moments_and_fold_refuse_float64_scales_on_a_float32_input(host):
    x, w = torch.randn(4, 2, 3, 2), torch.randn(3, 2)
    gamma = torch.ones(3, dtype=torch.float64)
    with pytest.raises(TypeError, match="gamma: float64 values on a torch.float32 input"):
        moments_and_fold(x, w, 1, gamma, torch.zeros(3), 1e-5, None)
    with pytest.raises(ValueError, match=r"beta: expected \[3\], one value per channel"):
        moments_and_fold(x, w, 1, gamma.float(), torch.zeros(4), 1e-5, None)


def _fold_launches() -> int:
    return launch_counts["cpsn_fold_f32"] + launch_counts["cpsn_moments_fold_f32"]


@pytest.mark.parametrize("threshold", ["bn", "learnable", 1.0])
def test_kernel_backend_layers_fold_in_one_launch(host, threshold):
    """Training, eval and in-place stepping of a backend='cpu' layer fold on the kernel (a
    BatchNorm layer's training forward in the launch that ends its moments' reduction); the
    torch backend never launches it."""
    x = torch.randn(6, 2, 5, 3)
    sn = CPSN(5, k=3, threshold=threshold, backend="cpu")
    ref = CPSN(5, k=3, threshold=threshold, backend="torch")
    ref.load_state_dict(sn.state_dict())
    before = _fold_launches()
    reductions = launch_counts["cpsn_reduce_moments_f32"]
    fused = launch_counts["cpsn_moments_fold_f32"]
    s = sn(x)
    assert _fold_launches() == before + 1
    assert launch_counts["cpsn_moments_fold_f32"] == fused + (threshold == "bn")
    assert launch_counts["cpsn_reduce_moments_f32"] == reductions
    s_ref = ref(x)
    assert (s != s_ref).float().mean() < 0.02  # near-ties only
    sn.eval()
    with torch.no_grad():
        sn(x)
        sn.step_mode = "s"
        sn.reset()
        sn(x[0])
    assert _fold_launches() == before + 3
    with torch.no_grad():
        ref.eval()(x)
    assert _fold_launches() == before + 3


def test_autoselect_folds_on_the_kernels_unless_forced(host, monkeypatch):
    x = torch.randn(4, 2, 3, 1)
    auto = get_backend("auto", x)
    w, bn = bn_case(3, 2, torch.float32)
    auto.clear()
    before = launch_counts["cpsn_fold_f32"]
    auto.fold_kernel(w, bn, (-24, 8))
    assert launch_counts["cpsn_fold_f32"] == before + 1
    rm, rv = torch.zeros(3), torch.ones(3)
    stats_before = launch_counts["cpsn_running_stats_f32"]
    auto.update_running_stats(rm, rv, bn[0].detach(), bn[1].detach(), 10, 0.1)
    assert launch_counts["cpsn_running_stats_f32"] == stats_before + 1
    monkeypatch.setenv(ENV_VAR, "torch")
    auto.fold_kernel(w, bn, (-24, 8))
    auto.update_running_stats(rm, rv, bn[0].detach(), bn[1].detach(), 10, 0.1)
    assert launch_counts["cpsn_fold_f32"] == before + 1
    assert launch_counts["cpsn_running_stats_f32"] == stats_before + 1
    auto.clear()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("momentum", [0.1, 0.7])
def test_running_stats_in_one_launch(host, dtype, momentum):
    """The kernel's exponential average equals torch's lerp bit for bit (so compiled training,
    which updates with torch's lerp, keeps eager's running statistics); buffers of another
    dtype (or strided ones) are updated by the torch function, with the same values."""
    mean, var = torch.randn(1037, dtype=dtype), torch.rand(1037, dtype=dtype)
    rm, rv = torch.randn(1037, dtype=dtype), torch.rand(1037, dtype=dtype) + 0.5
    ref_m, ref_v = rm.clone(), rv.clone()
    before = launch_counts[f"cpsn_running_stats_{SUF[dtype]}"]
    update_running_stats(rm, rv, mean, var, 1000, momentum)
    assert launch_counts[f"cpsn_running_stats_{SUF[dtype]}"] == before + 1
    torch_running(ref_m, ref_v, mean, var, 1000, momentum)
    assert torch.equal(rm, ref_m) and torch.equal(rv, ref_v)
    half_m, half_v = ref_m.half(), ref_v.half()
    update_running_stats(half_m, half_v, mean, var, 1000, momentum)
    assert launch_counts[f"cpsn_running_stats_{SUF[dtype]}"] == before + 1
    expect_m, expect_v = ref_m.half(), ref_v.half()
    torch_running(expect_m, expect_v, mean, var, 1000, momentum)
    assert torch.equal(half_m, expect_m) and torch.equal(half_v, expect_v)


def test_training_layer_updates_running_stats_on_the_kernel(host):
    sn = CPSN(5, k=3, backend="cpu")
    ref = CPSN(5, k=3, backend="torch")
    ref.load_state_dict(sn.state_dict())
    x = torch.randn(6, 2, 5, 3)
    before = launch_counts["cpsn_running_stats_f32"]
    sn(x), ref(x)
    assert launch_counts["cpsn_running_stats_f32"] == before + 1
    torch.testing.assert_close(sn.running_mean, ref.running_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sn.running_var, ref.running_var, rtol=1e-5, atol=1e-6)


def test_per_channel_tensors_of_another_length_are_refused(host):
    """The fold and running-statistics kernels read and write one value per channel of the
    weight: shorter tensors were read and written past their ends."""
    w, stats = torch.randn(5, 3), (torch.zeros(5), torch.ones(5))
    short = torch.ones(3)
    with pytest.raises(ValueError, match=r"gamma: expected \[5\].*got shape \(3,\)"):
        fold_values(w, (*stats, short, torch.zeros(5), 1e-5), None)
    store = torch.full((8,), -7.0)
    with pytest.raises(ValueError, match=r"running_mean: expected \[5\]"):
        update_running_stats(store[:3], torch.ones(5), *stats, 10, 0.1)
    assert torch.equal(store, torch.full((8,), -7.0))
