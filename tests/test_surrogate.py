import math

import torch

from spikingjelly_mulfree import Rational


def test_forward_is_heaviside_and_gradient_is_rational():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    sg = Rational(alpha=10.0)
    s = sg(x)
    assert torch.equal(s, (x >= 0).double())
    s.sum().backward()
    torch.testing.assert_close(x.grad, 1.0 / (1.0 + 10.0 * x.detach() ** 2))


def test_primitive_is_consistent_with_the_gradient():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    sg = Rational(alpha=10.0, spiking=False)
    y = sg(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, 1.0 / (1.0 + 10.0 * x.detach() ** 2))
    assert abs(y[30].item() - 0.5) < 1e-12
    assert 0 < y.min().item() and y.max().item() < 1
    assert abs(sg(torch.tensor(1e9)).item() - (0.5 + math.pi / 2 / math.sqrt(10))) < 1e-6


def test_alpha_must_be_positive():
    import pytest

    with pytest.raises(ValueError, match="alpha"):
        Rational(alpha=0.0)
