import pytest
import torch

from spikingjelly_mulfree.functional import pow2_exponent, quantize_pow2


def test_log_domain_rounding():
    w = torch.tensor([0.36, 0.3, -0.3, 1.0, 3.0, -5.5, 0.74, -5.9])
    assert quantize_pow2(w).tolist() == [0.5, 0.25, -0.25, 1.0, 4.0, -4.0, 1.0, -8.0]


def test_zero_stays_zero_and_underflow_goes_to_zero():
    w = torch.tensor([0.0, 2.0**-30, -(2.0**-26), 2.0**-24])
    assert quantize_pow2(w, -24, 8).tolist() == [0.0, 0.0, 0.0, 2.0**-24]


def test_nan_stays_nan():
    """A diverged weight stays visible instead of switching its tap off."""
    q = quantize_pow2(torch.tensor([float("nan"), 0.3, -float("nan")]))
    assert torch.isnan(q[0]) and q[1] == 0.25 and torch.isnan(q[2])
    with pytest.raises(ValueError, match=r"NaN at index \(1,\)"):
        pow2_exponent(torch.tensor([0.5, float("nan")]))


def test_exponent_clamped_above():
    assert quantize_pow2(torch.tensor([1000.0, -1e6]), -4, 3).tolist() == [8.0, -8.0]


def test_every_output_is_a_signed_power_of_two_in_range():
    w = torch.randn(1000, dtype=torch.float64) * 10
    q = quantize_pow2(w, -6, 2)
    sign, exp = pow2_exponent(w, -6, 2)
    assert torch.equal(q, sign.double() * torch.exp2(exp.double()))
    nz = q != 0
    e = torch.log2(q[nz].abs())
    assert torch.equal(e, e.round()) and e.min() >= -6 and e.max() <= 2
    assert torch.equal(torch.sign(q[nz]), torch.sign(w[nz]))


def test_straight_through_gradient_is_identity_even_at_zero():
    w = torch.tensor([0.0, 0.3, -2.0, 1e-12], requires_grad=True)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0])
    quantize_pow2(w).backward(g)
    assert torch.equal(w.grad, g)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_preserved(dtype):
    assert quantize_pow2(torch.tensor([0.3], dtype=dtype)).dtype == dtype


def test_bad_arguments():
    with pytest.raises(TypeError, match="floating-point"):
        quantize_pow2(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="min_exp <= max_exp"):
        quantize_pow2(torch.tensor([1.0]), 3, -3)
