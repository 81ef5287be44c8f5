import math

import pytest

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
    with pytest.raises(ValueError, match="alpha"):
        Rational(alpha=0.0)


def test_the_heaviside_list_holds_only_heaviside_surrogates():
    from spikingjelly.activation_based import surrogate as sj_surrogate

    from spikingjelly_mulfree.surrogate import HEAVISIDE_SURROGATES, fires_heaviside

    x = torch.cat([torch.linspace(-3, 3, 601, dtype=torch.float64),
                   torch.tensor([0.0, -0.0, 1e-300, -1e-300, float("nan")], dtype=torch.float64)])
    assert len(HEAVISIDE_SURROGATES) >= 18
    for cls in HEAVISIDE_SURROGATES:
        sg = cls()
        assert torch.equal(sg(x.clone()), (x >= 0).double()), cls
        assert fires_heaviside(sg)
        sg.spiking = False
        assert not fires_heaviside(sg)
    sampling = sj_surrogate.PoissonPass()
    counting = sj_surrogate.MultiLevelSpikeCount(max_spike_count=3)
    assert not fires_heaviside(sampling) and not fires_heaviside(counting)
    assert not torch.equal(counting(3 * x[:601]), (x[:601] >= 0).double())

    class Shifted(sj_surrogate.ATan):  # a subclass may change the forward: not trusted
        pass

    assert not fires_heaviside(Shifted())


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("inf"), float("nan"), "10"])
def test_rational_refuses_an_alpha_that_is_not_a_finite_positive_number(alpha):
    with pytest.raises(ValueError, match=r"alpha: expected a finite number > 0 .*got"):
        Rational(alpha=alpha)


def test_rational_refuses_a_boolean_alpha():
    """True is an int to Python; as a sharpness it is a mistake, not 1."""
    with pytest.raises(ValueError, match=r"alpha: expected a finite number > 0 .*got True"):
        Rational(alpha=True)
