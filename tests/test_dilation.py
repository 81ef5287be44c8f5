import pytest
import torch

from spikingjelly_mulfree import (
    CPSN, sawtooth_dilations, set_sawtooth_dilations, stack_receptive_field,
)
from spikingjelly_mulfree.dilation import sawtooth_period


def test_paper_example_k2_three_layers():
    d = sawtooth_dilations(3, 2, 7)
    assert d == [1, 2, 3]
    assert stack_receptive_field(2, d) == 7
    assert stack_receptive_field(2, [1, 1, 1]) == 4


@pytest.mark.parametrize("L,k,T", [(3, 2, 100), (8, 2, 30), (5, 3, 12), (6, 16, 32), (4, 1, 50)])
def test_period_is_the_smallest_that_covers_T_capped_at_depth(L, k, T):
    p = sawtooth_period(L, k, T)
    covers = lambda q: 1 + (k - 1) * q * (q + 1) // 2 >= T  # noqa: E731
    assert 1 <= p <= L
    assert covers(p) or p == L or k == 1
    assert p == 1 or not covers(p - 1)
    d = sawtooth_dilations(L, k, T)
    assert d == [1 + (i % p) for i in range(L)]


def test_set_sawtooth_assigns_in_module_order():
    net = torch.nn.Sequential(CPSN(2, k=2), torch.nn.Identity(), CPSN(2, k=2), CPSN(2, k=2),
                              CPSN(2, k=2))
    assert set_sawtooth_dilations(net, T=7) == [1, 2, 3, 1]
    assert [m.dilation for m in net if isinstance(m, CPSN)] == [1, 2, 3, 1]
    assert set_sawtooth_dilations(net, T=8, dilations=[4, 3, 2, 1]) == [4, 3, 2, 1]


def test_set_sawtooth_errors():
    with pytest.raises(ValueError, match="no|none"):
        set_sawtooth_dilations(torch.nn.Linear(2, 2), T=4)
    mixed = torch.nn.Sequential(CPSN(2, k=2), CPSN(2, k=3))
    with pytest.raises(ValueError, match="different orders"):
        set_sawtooth_dilations(mixed, T=4)
    with pytest.raises(ValueError, match="expected 2 values"):
        set_sawtooth_dilations(mixed, T=4, dilations=[1])
    with pytest.raises(ValueError, match="T: expected an integer >= 1"):
        sawtooth_dilations(2, 2, 0)


def test_dilation_helpers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="k: expected an integer >= 1, got 0"):
        sawtooth_period(3, 0, 8)
    with pytest.raises(ValueError, match="k: expected an integer >= 1, got 0"):
        stack_receptive_field(0, [1, 2])
    with pytest.raises(ValueError, match=r"dilations\[1\]: expected an integer >= 1, got 0"):
        stack_receptive_field(2, [1, 0])
    with pytest.raises(TypeError, match="net: expected a torch.nn.Module .*got list"):
        set_sawtooth_dilations([CPSN(2)], T=4)
    with pytest.raises(TypeError, match="dilations: expected a list of integers .*got 2"):
        set_sawtooth_dilations(CPSN(2), T=4, dilations=2)
