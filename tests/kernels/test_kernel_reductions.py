"""The per-channel reductions of the training kernels' partials (dW, db, the moments) against
the torch reference: however the batch is split over grid rows, in one stage or in chunks,
over partials the kernels fill themselves, and added into a given tensor."""
from __future__ import annotations

import pytest
import torch

from spikingjelly_mulfree.kernels import launch_counts, ops

from _kernel_cases import assert_close, make_input, reference_charge, reference_grads


def _want_rows(monkeypatch, host, x: torch.Tensor, rows: int) -> None:
    """Make the reductions aim for ``rows`` grid rows over ``x``'s batch: the layout's target
    parallelism set to ``rows`` rows of threads, the host's one-row shortcut for small launches
    off (with one torch thread, which the staged layout's target is multiplied by)."""
    assert torch.get_num_threads() == 1
    monkeypatch.setattr(ops, "PARALLEL_MIN_ELEMENTS", 0)
    gx, _ = ops.grid_for(host, x.shape[2] * x.shape[3])
    monkeypatch.setitem(ops._TARGET_THREADS, host.layout, rows * gx * host.block)


@pytest.mark.parametrize("rows", [1, 2, 7])
def test_batch_chunks_reduce_deterministically(host, one_thread, monkeypatch, rows):
    """However the batch is split across grid rows, the two-stage reductions agree, and a
    repeated call is bit-identical (no order-dependent atomics)."""
    x = make_input(9, 7, 3, 5, torch.float32)
    w, b = torch.randn(3, 4), torch.randn(3)
    g = torch.randn(x.shape)
    expected = reference_grads(x, w, b, 2, lambda h: g)
    _want_rows(monkeypatch, host, x, rows)
    assert ops._rows(host, x, True)[1] == rows
    first = ops.backward(x, w, b, 2, ops.GIVEN, grad_h=g)
    second = ops.backward(x, w, b, 2, ops.GIVEN, grad_h=g)
    for a, e, again in zip(first, expected, second):
        assert_close(a, e, (1e-5, 1e-5))
        assert torch.equal(a, again)
    m1, v1 = ops.moments(x, w, 2)
    h0 = reference_charge(x, w, None, 2)
    assert_close(m1, h0.mean(dim=(0, 1, 3)), (1e-5, 1e-5))
    assert_close(v1, h0.var(dim=(0, 1, 3), unbiased=False), (1e-5, 1e-5))


@pytest.mark.parametrize("rows,got", [(3, 3), (16, 14), (64, 40)])
def test_batch_rows_never_empty(host, one_thread, monkeypatch, rows, got):
    """A batch that does not split evenly over the grid rows (40 samples: 3 rows of 14, 14 and
    12; 16 wanted rows become 14 of 3 and a last of 1; 64 wanted, 40 of 1) still reduces every
    sample once: no row of partials is left unwritten."""
    x = make_input(5, 40, 3, 2, torch.float32)
    _want_rows(monkeypatch, host, x, rows)
    _, gy = ops._rows(host, x, True)
    per = -(-40 // gy)
    assert gy == got and (gy - 1) * per < 40
    w, b = torch.randn(3, 4), torch.randn(3)
    h0 = reference_charge(x, w, None, 1)
    for _ in range(2):  # the second call reuses freed memory: garbage would show
        mean, var = ops.moments(x, w, 1)
        assert_close(mean, h0.mean(dim=(0, 1, 3)), (1e-5, 1e-5))
        assert_close(var, h0.var(dim=(0, 1, 3), unbiased=False), (1e-5, 1e-5))
    g = torch.randn(x.shape)
    expected = reference_grads(x, w, b, 1, lambda h: g)
    for a, e in zip(ops.backward(x, w, b, 1, ops.GIVEN, grad_h=g), expected):
        assert_close(a, e, (1e-5, 1e-5))


@pytest.mark.parametrize("chunk", [1, 3, 10_000])
def test_reductions_in_chunks(host, monkeypatch, chunk):
    """dW, db and the moments are the same whether a channel's partials are reduced in one
    stage or first in chunks (a partial last chunk included), and the chunk kernels ran."""
    monkeypatch.setitem(ops.REDUCE_CHUNK, host.layout, chunk)
    monkeypatch.setitem(ops.REDUCE_SINGLE, host.layout, chunk)
    x = make_input(5, 4, 3, 7, torch.float32)
    w, b = torch.randn(3, 2), torch.randn(3)
    g = torch.randn(x.shape)
    before = launch_counts.copy()
    dx, dw, db = ops.backward(x, w, b, 2, ops.GIVEN, grad_h=g)
    mean, var = ops.moments(x, w, 2)
    for a, e in zip((dx, dw, db), reference_grads(x, w, b, 2, lambda h: g)):
        assert_close(a, e, (1e-5, 1e-5))
    h0 = reference_charge(x, w, None, 2)
    assert_close(mean, h0.mean(dim=(0, 1, 3)), (1e-5, 1e-5))
    assert_close(var, h0.var(dim=(0, 1, 3), unbiased=False), (1e-5, 1e-5))
    chunked = chunk < 7  # every channel has at least 7 partials (its S columns, >= 1 row)
    for kind in ("grad", "moments"):
        name = f"cpsn_reduce_{kind}_chunks_f32"
        assert (launch_counts[name] > before[name]) == chunked


def test_kernels_fill_their_partials_themselves(host):
    """The backward and moments kernels write every slot of their partials (the launcher hands
    them uninitialised memory), grid rows without samples included: NaN-filled partials and a
    grid with one row more than samples give the reference dW, db and moments."""
    from spikingjelly_mulfree.kernels.launch import grid_for

    T, N, C, S, k, d = 5, 3, 2, 4, 3, 1
    x = torch.randn(T, N, C, S)
    w, b, g = torch.randn(C, k), torch.randn(C), torch.randn(T, N, C, S)
    gx = grid_for(host, C * S)[0]
    rows = N + 1  # one sample per row, the last row empty
    part = torch.full((rows * C * S * (k + 1),), float("nan"))
    dx = torch.empty_like(x)
    gh = None if host.layout == "staged" else torch.empty_like(x)
    host.launch("cpsn_backward_f32_mul", (gx, rows),
                (x, w, b, None, g, None, None, None, gh, dx, None, None, part, T, N, C, S, k,
                 d, ops.GIVEN, 0.0))
    dw, db = torch.empty(C, k), torch.empty(C)
    host.launch("cpsn_reduce_grad_f32", ops._thread_grid(host, C * (k + 1)),
                (part, dw, db, rows, C, S, k, 0))
    _, dw_ref, db_ref = reference_grads(x, w, b, d, lambda h: g)
    assert_close(dw, dw_ref, (1e-5, 1e-5))
    assert_close(db, db_ref, (1e-5, 1e-5))
    part = torch.full((rows * C * S * 3,), float("nan"))
    host.launch("cpsn_moments_f32", (gx, rows), (x, w, part, T, N, C, S, k, d))
    mean, var = torch.empty(C), torch.empty(C)
    host.launch("cpsn_reduce_moments_f32", ops._thread_grid(host, C), (part, mean, var, rows, C, S))
    h0 = reference_charge(x, w, None, d)
    assert_close(mean, h0.mean(dim=(0, 1, 3)), (1e-5, 1e-5))
    assert_close(var, h0.var(dim=(0, 1, 3), unbiased=False), (1e-5, 1e-5))


def test_gpu_reductions_take_a_first_stage_only_for_many_partials(monkeypatch):
    """On the GPU layout a channel with up to REDUCE_SINGLE partials is summed by one launch;
    more take the chunked first stage (the staged host build sums in one stage)."""
    from spikingjelly_mulfree.kernels.launch import host_layout

    w = torch.randn(3, 2)
    with host_layout("gpu"):
        for N, chunked in ((4, False), (40, True)):  # partials per channel: N * S = 32 / 320
            x = make_input(3, N, 3, 8, torch.float32)
            before = launch_counts["cpsn_reduce_moments_chunks_f32"]
            mean, _ = ops.moments(x, w, 1)
            ran = launch_counts["cpsn_reduce_moments_chunks_f32"] > before
            assert ran == chunked
            assert_close(mean, reference_charge(x, w, None, 1).mean(dim=(0, 1, 3)),
                         (1e-5, 1e-5))


def test_backward_adds_dw_into_a_given_tensor(host):
    """add_to: dW is accumulated into the caller's tensor in the reduction (the sum of two
    gradients of the same weights without a separate addition); a wrong one is refused."""
    x = make_input(6, 2, 3, 4, torch.float32)
    w, b, g = torch.randn(3, 2), torch.randn(3), torch.randn(6, 2, 3, 4)
    _, dw, db = ops.backward(x, w, b, 1, ops.GIVEN, grad_h=g)
    base = torch.randn(3, 2)
    into = base.clone()
    _, dw2, db2 = ops.backward(x, w, b, 1, ops.GIVEN, grad_h=g, add_to=into)
    assert dw2 is into
    assert torch.equal(dw2, base + dw) and torch.equal(db2, db)
    with pytest.raises(ValueError, match=r"add_to: expected a contiguous \[3, 2\]"):
        ops.backward(x, w, b, 1, ops.GIVEN, grad_h=g, add_to=torch.zeros(2, 3))
