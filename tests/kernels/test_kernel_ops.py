"""Every kernel (through the host build) against the torch reference, over stacked
parametrizations: dtype x k x dilation x T (1, shorter than the receptive field, longer) x
odd C x trailing dims, contiguous or not."""
from __future__ import annotations

import math

import pytest
import torch

from spikingjelly_mulfree.kernels import launch_counts, ops
from spikingjelly_mulfree.kernels.step import RingState, step_fire

from _kernel_cases import (
    ACC_TOL, DTYPES, OUT_TOL, acc_of, assert_close, assert_spikes, make_input, reference_charge,
    reference_grads,
)

SHAPES = [(2, 3, 1), (3, 5, 6)]  # (N, C odd, S)


def pow2_weight(C, k):
    """Signed powers of two with some zeros."""
    e = torch.randint(-4, 2, (C, k)).float()
    w = torch.where(torch.rand(C, k) < 0.5, -1.0, 1.0) * torch.pow(2.0, e)
    return torch.where(torch.rand(C, k) < 0.15, torch.zeros_like(w), w)


@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("NCS", SHAPES)
@pytest.mark.parametrize("T", [1, 4, 13])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward(host, dtype, k, d, T, NCS, contiguous):
    x = make_input(T, *NCS, dtype, contiguous)
    C = NCS[1]
    w, b = torch.randn(C, k), torch.randn(C)
    h_ref = reference_charge(x, w, b, d)
    before = launch_counts.copy()
    h = ops.charge(x, w, b, d)
    assert h.dtype == acc_of(dtype)
    assert_close(h, h_ref, ACC_TOL[dtype])
    assert_spikes(ops.charge_fire(x, w, b, d), h_ref, dtype)
    suffix = ops.SUFFIX[dtype]
    assert launch_counts[f"cpsn_forward_{suffix}_mul"] == before[f"cpsn_forward_{suffix}_mul"] + 2


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16_bit_tensors_convert_exactly(host, dtype):
    """16-bit rows are converted a lane group at a time (a whole SIMD register on the host; the
    values one by one were 3-5x a float32 pass's time): a 16-bit input gives its float32
    values' charge and spikes bit for bit, and a 16-bit dX is the float32 one rounded to
    nearest even, infinities and NaN included (120 columns a sample: lane groups and a
    remainder)."""
    T, N, C, S = 9, 2, 3, 40
    torch.manual_seed(0)
    x16 = (torch.randn(T, N, C, S) * 4).to(dtype)
    w, b = torch.randn(C, 3), torch.randn(C)
    x32 = x16.float()
    exact = dict(rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(ops.charge(x16, w, b, 1), ops.charge(x32, w, b, 1), **exact)
    assert torch.equal(ops.charge_fire(x16, w, b, 1), ops.charge_fire(x32, w, b, 1).to(dtype))
    g = torch.randn(T, N, C, S) * 3e3
    g.view(-1)[:3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    g.view(-1)[-1] = 1e38  # beyond float16's range
    dx16 = ops.backward(x16, w, b, 1, ops.GIVEN, grad_h=g)[0]
    dx32 = ops.backward(x32, w, b, 1, ops.GIVEN, grad_h=g)[0]
    assert dx16.dtype == dtype and dx16.isnan().any() and dx16.isinf().any()
    torch.testing.assert_close(dx16, dx32.to(dtype), **exact)
    # exact ties between two 16-bit values (the last tap alone: dX = dL/dH), odd and even
    half_ulp = torch.finfo(dtype).eps / 2  # at 1
    ties = 1 + half_ulp * (torch.arange(1, 2 * g.numel(), 2, dtype=torch.float32) % 64)
    identity = torch.zeros(C, 3)
    identity[:, -1] = 1
    g = ties.view_as(g)
    dx16 = ops.backward(x16, identity, b, 1, ops.GIVEN, grad_h=g)[0]
    assert not torch.equal(g.to(dtype).float(), g)
    assert torch.equal(dx16, g.to(dtype))


@pytest.mark.parametrize("T", [1, 6, 17])
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("k", [1, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_shift_equals_multiply(host, dtype, k, d, T):
    """Exponent-add taps give the same charge as multiplied taps (2**e products are exact)."""
    x = make_input(T, 2, 5, 3, dtype)
    w, b = pow2_weight(5, k), torch.randn(5)
    h_mul = ops.charge(x, w, b, d, mul_free=False)
    h_shift = ops.charge(x, w, b, d, mul_free=True)
    assert torch.equal(h_mul, h_shift)
    assert torch.equal(ops.charge_fire(x, w, b, d, True), ops.charge_fire(x, w, b, d, False))


def test_shift_edge_values(host):
    """Zeros, subnormals, overflow and infinities go through the slow path correctly."""
    tiny = torch.finfo(torch.float32).tiny
    vals = torch.tensor([0.0, -0.0, tiny, tiny / 8, -3e38, 3e38, float("inf"), 1.5, -2.25])
    x = vals.view(-1, 1, 1, 1).expand(-1, 1, 3, 1).contiguous()
    w = torch.tensor([[0.25], [-8.0], [2.0 ** -20]])
    h_shift = ops.charge(x, w, None, 1, mul_free=True)
    h_mul = ops.charge(x, w, None, 1, mul_free=False)
    assert torch.equal(h_shift, h_mul)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shift_of_a_nan_weight_is_nan_like_a_multiply(host, dtype):
    """A NaN tap (a diverged weight, which the quantizer keeps NaN) gives NaN wherever it reads
    an input, in the shift variant as in the multiply one."""
    x = torch.randn(5, 2, 3, 2, dtype=dtype)
    w = torch.tensor([[0.5, 1.0], [float("nan"), 1.0], [0.25, float("nan")]],
                     dtype=dtype)
    h_shift = ops.charge(x, w, None, 1, mul_free=True)
    assert torch.isnan(h_shift[1:, :, 1]).all() and torch.isnan(h_shift[:, :, 2]).all()
    assert not torch.isnan(h_shift[:, :, 0]).any()
    torch.testing.assert_close(h_shift, ops.charge(x, w, None, 1), rtol=0, atol=0,
                               equal_nan=True)


SURROGATES = {
    ops.ATAN: lambda h, a: (a / 2) / (1 + (math.pi / 2 * a * h) ** 2),
    ops.SIGMOID: lambda h, a: a * torch.sigmoid(a * h) * (1 - torch.sigmoid(a * h)),
    ops.RATIONAL: lambda h, a: 1 / (1 + a * h * h),
}


@pytest.mark.parametrize("mode,mul_free", [(ops.ATAN, False), (ops.ATAN, True),
                                            (ops.SIGMOID, True), (ops.RATIONAL, False)])
@pytest.mark.parametrize("NCS", SHAPES)
@pytest.mark.parametrize("T", [1, 4, 13])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_fused_surrogate(host, dtype, k, d, T, NCS, mul_free, mode):
    x = make_input(T, *NCS, dtype)
    C = NCS[1]
    w = pow2_weight(C, k) if mul_free else torch.randn(C, k)
    b = torch.randn(C)
    gs = torch.randn(x.shape).to(dtype)
    alpha = 2.5
    fn = SURROGATES[mode]
    expected = reference_grads(x, w, b, d, lambda h: gs.to(h.dtype) * fn(h, alpha))
    dx, dw, db = ops.backward(x, w, b, d, mode, grad_s=gs, alpha=alpha, mul_free=mul_free)
    assert dx.dtype == dtype and dw.dtype == db.dtype == acc_of(dtype)
    assert_close(dx, expected[0], OUT_TOL[dtype])
    assert_close(dw, expected[1], ACC_TOL[dtype])
    assert_close(db, expected[2], ACC_TOL[dtype])


@pytest.mark.parametrize("k,d,T", [(11, 1, 19), (16, 2, 40), (9, 1, 8), (16, 1, 40),
                                   (9, 1, 33), (5, 1, 32)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_long_kernels(host, dtype, k, d, T):
    """More taps than a time block holds and more columns than a lane group (the host's SIMD
    width), with partial blocks and groups: forward, fused backward and moments. With d = 1 and
    T well past k, the GPU layout's register ring runs time blocks that read no row outside the
    sequence (its unchecked path) as well as the ones at either end."""
    x = make_input(T, 3, 5, 7, dtype)
    w, b = torch.randn(5, k) / k, torch.randn(5)
    h_ref = reference_charge(x, w, b, d)
    assert_close(ops.charge(x, w, b, d), h_ref, ACC_TOL[dtype])
    assert_spikes(ops.charge_fire(x, w, b, d), h_ref, dtype)
    gs = torch.randn(x.shape).to(dtype)
    fn = SURROGATES[ops.ATAN]
    expected = reference_grads(x, w, b, d, lambda h: gs.to(h.dtype) * fn(h, 2.0))
    got = ops.backward(x, w, b, d, ops.ATAN, grad_s=gs, alpha=2.0)
    for a, e, tol in zip(got, expected, (OUT_TOL[dtype], ACC_TOL[dtype], ACC_TOL[dtype])):
        assert_close(a, e, tol)
    h0 = reference_charge(x.to(acc_of(dtype)), w.to(acc_of(dtype)), None, d)
    mean, var = ops.moments(x, w, d)
    assert_close(mean, h0.mean(dim=(0, 1, 3)), ACC_TOL[dtype])
    tol = (ACC_TOL[dtype][0] * 10, ACC_TOL[dtype][1] * 10)
    assert_close(var, h0.var(dim=(0, 1, 3), unbiased=False), tol)


@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("T", [1, 5, 16])
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("k", [1, 3, 6])
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_given_grad(host, dtype, k, d, T, contiguous):
    x = make_input(T, 3, 5, 2, dtype, contiguous)
    w, b = torch.randn(5, k), torch.randn(5)
    g = torch.randn(x.shape, dtype=acc_of(dtype))
    expected = reference_grads(x, w, b, d, lambda h: g)
    dx, dw, db = ops.backward(x, w, b, d, ops.GIVEN, grad_h=g)
    assert_close(dx, expected[0], OUT_TOL[dtype])
    assert_close(dw, expected[1], ACC_TOL[dtype])
    assert_close(db, expected[2], ACC_TOL[dtype])


@pytest.mark.parametrize("NCS", SHAPES)
@pytest.mark.parametrize("T", [1, 4, 13])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_moments_and_backward(host, dtype, k, d, T, NCS):
    x = make_input(T, *NCS, dtype) + 3.0  # an offset: the shifted sums must cope
    x = x.to(dtype)
    C = NCS[1]
    acc = acc_of(dtype)
    xr = x.to(acc).requires_grad_()
    wr = torch.randn(C, k, dtype=acc, requires_grad=True)
    h0 = reference_charge(xr, wr, None, d)
    var, mean = torch.var_mean(h0, dim=(0, 1, 3), unbiased=False)
    m, v = ops.moments(x, wr.detach(), d)
    assert_close(m, mean.detach(), ACC_TOL[dtype])
    tol = (ACC_TOL[dtype][0] * 10, ACC_TOL[dtype][1] * 10)
    assert_close(v, var.detach(), tol)
    gm, gv = torch.randn(C, dtype=acc), torch.randn(C, dtype=acc)
    ((mean * gm).sum() + (var * gv).sum()).backward()
    dx, dw = ops.moments_backward(x, wr.detach(), d, m, gm, gv)
    assert_close(dx, xr.grad, OUT_TOL[dtype])
    assert_close(dw, wr.grad, tol)


@pytest.mark.parametrize("donate", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_moments_backward_adds_extra_gradient(host, dtype, donate):
    """``extra`` adds a second consumer's input gradient; a donated dL/dH is overwritten by dX
    exactly when dX has the accumulator type (no [T, N, C, S] buffer of its own)."""
    T, N, C, S, k, d = 9, 2, 3, 4, 3, 2
    x = make_input(T, N, C, S, dtype)
    acc = acc_of(dtype)
    w, w2 = torch.randn(C, k, dtype=acc), torch.randn(C, k, dtype=acc)
    g2 = torch.randn(x.shape, dtype=acc)
    m, _ = ops.moments(x, w, d)
    gm, gv = torch.randn(C, dtype=acc), torch.randn(C, dtype=acc)
    dx0, dw0 = ops.moments_backward(x, w, d, m, gm, gv)
    dx2, _, _ = ops.backward(x, w2, None, d, ops.GIVEN, grad_h=g2)
    handed = g2.clone()
    dx, dw = ops.moments_backward(x, w, d, m, gm, gv, extra=(handed, w2), donate=donate)
    assert_close(dx, (dx0.to(acc) + dx2.to(acc)).to(dtype), OUT_TOL[dtype])
    assert torch.equal(dw, dw0)
    shared = dx.data_ptr() == handed.data_ptr()
    assert shared == (donate and dtype == acc)
    if not donate:
        assert torch.equal(handed, g2)


@pytest.mark.parametrize("dtype,lo,hi", [(torch.float32, -149, 127),
                                         (torch.float64, -1074, 1023)])
def test_shift_reads_every_power_of_two_off_the_weight(host, dtype, lo, hi):
    """The shift variant takes each tap's sign and exponent from the weight's bits: over every
    exponent of the accumulator type (subnormal weights included), both signs and zero, it
    gives the multiplied charge bit for bit (products that leave the range included)."""
    e = torch.arange(lo, hi + 1, dtype=torch.float64)
    sign = torch.where(torch.arange(e.numel()) % 2 == 0, 1.0, -1.0).double()
    w = torch.cat([sign * torch.exp2(e), torch.zeros(1, dtype=torch.float64)]).to(dtype)
    w = w.view(-1, 1)
    x = torch.randn(3, 2, w.shape[0], 1, dtype=dtype) * 4
    b = torch.zeros(w.shape[0], dtype=dtype)
    assert torch.equal(ops.charge(x, w, b, 1, mul_free=True), ops.charge(x, w, b, 1))
    charges = []
    for mul_free in (True, False):
        charges.append(torch.empty(x[0].shape, dtype=dtype))
        step_fire(x[0], RingState.zeros(x[0], 1, 1), w, b, 1, mul_free, charge=charges[-1])
    assert torch.equal(*charges)


def test_argument_errors_before_any_launch(host):
    """Arguments the kernels would misread: both gradients given (the staged build stages them
    into one scratch slot), a dilation below 1 (rows before row 0) or too large for the
    32-bit step arithmetic."""
    x, w = torch.randn(5, 2, 3, 2), torch.randn(3, 2)
    g = torch.randn(5, 2, 3, 2)
    with pytest.raises(ValueError, match="mode: ATAN reads grad_s alone.*grad_h given"):
        ops.backward(x, w, None, 1, ops.ATAN, grad_s=g, grad_h=g, alpha=2.0)
    with pytest.raises(ValueError, match="mode: GIVEN reads grad_h alone.*grad_h missing"):
        ops.backward(x, w, None, 1, ops.GIVEN)
    with pytest.raises(ValueError, match=r"mode: expected one of .*\(0 to 4\), got 7"):
        ops.backward(x, w, None, 1, 7, grad_s=g)
    for d in (0, -1, 2.0):
        with pytest.raises(ValueError, match="dilation: expected an integer >= 1"):
            ops.charge(x, w, None, d)
    with pytest.raises(ValueError, match="more than 2\\*\\*31 steps apart"):
        ops.moments(x, w, 2**28)
    assert ops.charge(x, w, None, 2**27).shape == x.shape


def test_input_errors(host):
    with pytest.raises(TypeError, match="x: expected float16"):
        ops.charge(torch.zeros(2, 1, 1, 1, dtype=torch.int32), torch.ones(1, 1), None, 1)
    with pytest.raises(ValueError, match=r"weight: expected \[C=3, k\]"):
        ops.charge(torch.zeros(2, 1, 3, 1), torch.ones(2, 1), None, 1)
    with pytest.raises(ValueError, match=r"x: expected \[T, N, C, S\]"):
        ops.charge(torch.zeros(2, 3), torch.ones(3, 1), None, 1)


@pytest.mark.parametrize("mul_free", [False, True])
def test_many_columns(host, mul_free):
    """C*S larger than one block's columns (several blocks, a partial last one)."""
    span = host.cols * host.block
    C, S = 7, span // 3 + 5
    x = make_input(6, 2, C, S, torch.float32)
    w = pow2_weight(C, 3) if mul_free else torch.randn(C, 3)
    b = torch.randn(C)
    assert C * S > span and (C * S) % span != 0
    h_ref = reference_charge(x, w, b, 2)
    assert_close(ops.charge(x, w, b, 2, mul_free), h_ref, ACC_TOL[torch.float32])
    g = torch.randn(x.shape)
    expected = reference_grads(x, w, b, 2, lambda h: g)
    for a, e in zip(ops.backward(x, w, b, 2, ops.GIVEN, grad_h=g, mul_free=mul_free), expected):
        assert_close(a, e, (1e-5, 1e-5))
    h0 = reference_charge(x, w, None, 2)
    mean, var = ops.moments(x, w, 2)
    assert_close(mean, h0.mean(dim=(0, 1, 3)), (1e-5, 1e-5))
    assert_close(var, h0.var(dim=(0, 1, 3), unbiased=False), (1e-5, 1e-5))


def test_openmp_blocks_match_serial(host, monkeypatch):
    """Blocks run by several OpenMP threads give bit-identical results to one thread."""
    from spikingjelly_mulfree.kernels import host as host_module

    x = make_input(7, 5, 3, host.cols // 2 + 3, torch.float32)
    w, b = torch.randn(3, 4), torch.randn(3)
    g = torch.randn(x.shape)

    def run():
        return (ops.charge(x, w, b, 2), *ops.backward(x, w, b, 2, ops.GIVEN, grad_h=g),
                *ops.moments(x, w, 2))

    serial = run()
    monkeypatch.setattr(host_module, "PARALLEL_MIN_ELEMENTS", 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel = run()
    finally:
        torch.set_num_threads(threads)
    for a, e in zip(parallel, serial):
        assert torch.equal(a, e)


def test_expanded_and_strided_arguments_are_copied(host):
    """A gradient expanded from a scalar (what ``.sum().backward()`` hands over) and a strided
    view reach the kernels as contiguous copies: same results as the materialised tensors."""
    x = make_input(6, 3, 4, 5, torch.float32)
    w, b = torch.randn(4, 3), torch.randn(4)
    expanded = torch.ones(()).expand(x.shape)
    assert ops.as_kernel_arg(expanded, torch.float32).is_contiguous()
    got = ops.backward(x, w, b, 1, ops.ATAN, grad_s=expanded, alpha=2.0)
    want = ops.backward(x, w, b, 1, ops.ATAN, grad_s=torch.ones(x.shape), alpha=2.0)
    for a, e in zip(got, want):
        assert torch.equal(a, e)
    strided = torch.randn(4, 6)[:, ::2]
    got = ops.charge(x, strided, b, 2)
    assert torch.equal(got, ops.charge(x, strided.contiguous(), b, 2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_taps_give_the_bias_and_read_nothing(host, dtype):
    """A [C, 0] weight (the ops take it; the module refuses k < 1): the charge is the bias and
    the input gradient zero. The GPU layout's d = 1 register ring preloads rows, so it must not
    run for k = 0 (the sanitized rerun of this file catches a read outside the tensor)."""
    x = make_input(9, 2, 3, 2, dtype)
    w, b = torch.zeros(3, 0), torch.randn(3)
    h = ops.charge(x, w, b, 1)
    assert torch.equal(h, b.to(h.dtype).view(1, 1, 3, 1).expand_as(h))
    dx, dw, db = ops.backward(x, w, b, 1, ops.GIVEN, grad_h=torch.ones(x.shape, dtype=h.dtype))
    assert not dx.any() and dw.shape == (3, 0)
    assert torch.equal(db, torch.full((3,), 2.0 * 9 * 2, dtype=db.dtype))
