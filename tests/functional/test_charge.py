import itertools

import pytest
import torch

from spikingjelly_mulfree.functional import charge_reference, charge_torch, toeplitz

CASES = list(itertools.product([1, 3, 7, 33], [1, 2, 5, 16], [1, 3]))


@pytest.mark.parametrize("T,k,d", CASES)
def test_torch_path_matches_loop_reference(T, k, d):
    x = torch.randn(T, 2, 3, 5, dtype=torch.float64)
    w = torch.randn(3, k, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    torch.testing.assert_close(charge_torch(x, w, b, d), charge_reference(x, w, b, d))


def test_reference_is_causal_and_zero_padded():
    x = torch.zeros(6, 1, 1, 1, dtype=torch.float64)
    x[2] = 1.0
    w = torch.tensor([[3.0, 2.0, 1.0]], dtype=torch.float64)
    h = charge_reference(x, w, None, 2).flatten().tolist()
    assert h == [0.0, 0.0, 1.0, 0.0, 2.0, 0.0]


def test_noncontiguous_input():
    x = torch.randn(2, 9, 3, 4, dtype=torch.float64).transpose(0, 1)
    w = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(charge_torch(x, w, None, 2), charge_reference(x, w, None, 2))


def test_toeplitz_gradient_reaches_every_tap():
    w = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    toeplitz(w, 8, 2).sum().backward()
    assert torch.equal(w.grad, torch.tensor([[4.0, 6.0, 8.0]] * 2, dtype=torch.float64))


@pytest.mark.parametrize("T,k,d", [(12, 6, 1), (20, 2, 3)])
def test_torch_path_gradcheck(T, k, d):
    x = torch.randn(T, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, k, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: charge_torch(x, w, b, d), (x, w, b))


def test_toeplitz_band_cache_is_usable_from_inference_mode():
    """A band pattern first built under inference_mode serves a later training step (its
    index is saved for the weight's gradient), and the cache stays bounded."""
    from spikingjelly_mulfree.functional import charge as charge_module

    charge_module._BANDS.clear()
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    with torch.inference_mode():
        a_inf = toeplitz(w.detach(), 9, 2)
    a = toeplitz(w, 9, 2)
    assert torch.equal(a, a_inf)
    (g,) = torch.autograd.grad((a * torch.arange(81.0).view(9, 9)).sum(), w)
    assert g.abs().sum() > 0
    for T in range(1, charge_module._MAX_BANDS + 5):
        toeplitz(w.detach(), T, 1)
    assert len(charge_module._BANDS) <= charge_module._MAX_BANDS
    cached = toeplitz(w.detach(), 7, 2)  # built, then served from the cache
    assert toeplitz(w.detach(), 7, 2).data_ptr() != cached.data_ptr()
    expected = torch.zeros(3, 7, 7, dtype=torch.float64)
    for t in range(7):
        for i in range(4):
            if t - (3 - i) * 2 >= 0:
                expected[:, t, t - (3 - i) * 2] = w.detach()[:, i]
    assert torch.equal(toeplitz(w.detach(), 7, 2), expected)
