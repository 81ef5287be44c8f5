"""The public functional entry points refuse a wrong shape or dilation at the entry, naming the
argument, instead of broadcasting silently or failing deep inside torch."""
import pytest
import torch

from spikingjelly_mulfree.functional import (
    charge_reference, charge_torch, push_window, receptive_field, ring_charge, step_charge,
    toeplitz,
)

W = torch.ones(3, 2)


@pytest.mark.parametrize("charge", [charge_torch, charge_reference])
@pytest.mark.parametrize("x,weight,bias,dilation,match", [
    (torch.zeros(4, 2, 1, 1), W, None, 1, r"x: expected \[T, N, C, S\] with C=3 .*\(4, 2, 1, 1\)"),
    (torch.zeros(4, 2, 3), W, None, 1, r"x: expected \[T, N, C, S\] .*got shape \(4, 2, 3\)"),
    (torch.zeros(4, 2, 3, 1), torch.ones(3), None, 1, r"weight: expected \[C, k\] .*\(3,\)"),
    (torch.zeros(4, 2, 3, 1), W, torch.ones(2), 1, r"bias: expected \[C=3\] .*\(2,\)"),
    (torch.zeros(4, 2, 3, 1), W, None, 0, "dilation: expected an integer >= 1, got 0"),
    (torch.zeros(4, 2, 3, 1), W, None, 1.5, "dilation: expected an integer >= 1, got 1.5"),
])
def test_charge_refuses_bad_arguments(charge, x, weight, bias, dilation, match):
    with pytest.raises(ValueError, match=match):
        charge(x, weight, bias, dilation)


def test_charge_refuses_a_non_tensor_input():
    with pytest.raises(TypeError, match=r"x: expected a torch.Tensor \[T, N, C, S\], got list"):
        charge_torch([1.0], W, None, 1)


def test_toeplitz_and_receptive_field_refuse_bad_arguments():
    with pytest.raises(ValueError, match="T: expected an integer >= 0 .*got -1"):
        toeplitz(W, -1, 1)
    with pytest.raises(ValueError, match="dilation: expected an integer >= 1, got -2"):
        toeplitz(W, 4, -2)
    with pytest.raises(ValueError, match=r"weight: expected \[C, k\] taps, got"):
        toeplitz(torch.ones(3), 4, 1)
    with pytest.raises(ValueError, match="k: expected an integer >= 1 .*got 0"):
        receptive_field(0, 1)
    assert toeplitz(W, 0, 1).shape == (3, 0, 0)


def test_step_charge_refuses_a_window_of_the_wrong_length():
    # k=2, d=2 reads slots 0 and 2: a 4-step window would silently skip the newest input
    with pytest.raises(ValueError, match=r"window: expected R = .* = 3 steps .*got 4 .*"
                                         r"push_window\(\.\.\., length=3\)"):
        step_charge(torch.zeros(4, 1, 3), W, None, 2)
    with pytest.raises(ValueError, match=r"window: expected \[R, N, C, \*\] with C=3"):
        step_charge(torch.zeros(3, 1, 1), W, None, 2)


def test_ring_charge_refuses_a_ring_or_input_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"ring: expected R = .* = 2 steps .*got 3 .*"
                                         r"torch.zeros\(R, \*x.shape\) with R = 2"):
        ring_charge(torch.zeros(3, 1, 3), 0, torch.ones(1, 3), W, None, 1)
    with pytest.raises(ValueError, match=r"x: expected shape \(1, 3\) like a slot .*got \(3,\)"):
        ring_charge(torch.zeros(2, 1, 3), 0, torch.ones(3), W, None, 1)


def test_push_window_refuses_a_window_that_does_not_match():
    window = push_window(None, torch.ones(1, 3), 2)
    with pytest.raises(ValueError, match=r"window: expected \[R=3, \*x.shape\] = \(3, 1, 3\) .*"
                                         r"got \(2, 1, 3\); start a new sequence"):
        push_window(window, torch.ones(1, 3), 3)
    with pytest.raises(ValueError, match=r"window: expected .* got \(2, 1, 3\)"):
        push_window(window, torch.ones(2, 3), 2)
    with pytest.raises(ValueError, match="length: expected an integer >= 1 .*got 0"):
        push_window(None, torch.ones(1, 3), 0)
