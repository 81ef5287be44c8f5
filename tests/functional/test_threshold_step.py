import pytest
import torch

from spikingjelly_mulfree.functional import (
    charge_reference, fuse_bn, moments, push_window, ring_charge, step_charge,
    update_running_stats,
)


def test_fused_kernel_equals_batchnorm_of_charge():
    x = torch.randn(9, 4, 3, 2, dtype=torch.float64)
    w = torch.randn(3, 3, dtype=torch.float64)
    gamma, beta = torch.rand(3, dtype=torch.float64) + 0.5, torch.randn(3, dtype=torch.float64)
    h0 = charge_reference(x, w, None, 2)
    mean, var = moments(h0)
    bn = gamma.view(1, 1, 3, 1) * (h0 - mean.view(1, 1, 3, 1)) / torch.sqrt(
        var.view(1, 1, 3, 1) + 1e-5) + beta.view(1, 1, 3, 1)
    wf, bf = fuse_bn(w, mean, var, gamma, beta, 1e-5)
    torch.testing.assert_close(charge_reference(x, wf, bf, 2), bn)


def test_running_stats_follow_torch_batchnorm():
    h = torch.randn(5, 4, 3, 6)
    bn = torch.nn.BatchNorm1d(3, momentum=0.1)
    bn(h.permute(0, 1, 3, 2).reshape(-1, 3))
    rm, rv = torch.zeros(3), torch.ones(3)
    mean, var = moments(h)
    update_running_stats(rm, rv, mean, var, h.numel() // 3, 0.1)
    torch.testing.assert_close(rm, bn.running_mean)
    torch.testing.assert_close(rv, bn.running_var)


def test_window_steps_reproduce_the_sequence_charge():
    T, k, d = 11, 3, 2
    x = torch.randn(T, 2, 3, 1, dtype=torch.float64)
    w, b = torch.randn(3, k, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    window, steps = None, []
    for t in range(T):
        window = push_window(window, x[t], (k - 1) * d + 1)
        steps.append(step_charge(window, w, b, d))
    assert window.shape[0] == (k - 1) * d + 1
    torch.testing.assert_close(torch.stack(steps), charge_reference(x, w, b, d))


@pytest.mark.parametrize("trailing", [(), (2,), (2, 3)])
@pytest.mark.parametrize("k,d", [(1, 1), (2, 1), (3, 2), (4, 3)])
def test_ring_steps_reproduce_the_sequence_charge_in_place(k, d, trailing):
    T, R = 8, (k - 1) * d + 1
    x = torch.randn(T, 2, 3, *trailing, dtype=torch.float64)
    w, b = torch.randn(3, k, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    ring = torch.zeros(R, *x.shape[1:], dtype=torch.float64)
    storage, window, steps = ring.data_ptr(), None, []
    for t in range(T):
        steps.append(ring_charge(ring, t % R, x[t], w, b, d))
        window = push_window(window, x[t], R)
        assert torch.equal(ring.roll(-((t + 1) % R), 0), window)  # oldest in the next slot
    assert ring.data_ptr() == storage
    expected = charge_reference(x.reshape(T, 2, 3, -1), w, b, d).view(x.shape)
    torch.testing.assert_close(torch.stack(steps), expected, rtol=1e-12, atol=1e-12)


def test_ring_step_stores_the_input_in_the_ring_dtype_and_tracks_no_gradient():
    ring = torch.zeros(3, 2, 4)
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, requires_grad=True)
    h = ring_charge(ring, 1, x, w, None, 2)
    assert h.dtype == torch.float32 and not h.requires_grad and not ring.requires_grad
    assert torch.equal(ring[1], x.detach().float()) and not ring[0].any() and not ring[2].any()
    torch.testing.assert_close(h, w[:, 1].detach() * x.detach().float())
