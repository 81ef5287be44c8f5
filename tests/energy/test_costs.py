"""Per-neuron operation formulas and the energy table."""
import itertools

import pytest

from spikingjelly_mulfree.energy import (
    EnergyCosts, NeuronOps, masked_psn_ops, psn_ops, sliding_ops, streaming_step_ops, tap_count,
)


def brute_taps(T, k, d):
    """Taps that touch a real input step: step t, tap i reads X[t - (k-1-i) d]."""
    return sum(1 for t in range(T) for i in range(k) if t - (k - 1 - i) * d >= 0)


@pytest.mark.parametrize("T,k,d", list(itertools.product([1, 2, 3, 7, 16, 33], [1, 2, 5, 16],
                                                         [1, 2, 3, 7])))
def test_tap_count_equals_the_taps_that_touch_real_steps(T, k, d):
    assert tap_count(T, k, d) == brute_taps(T, k, d)


@pytest.mark.parametrize("T,k", [(32, 16), (32, 1), (32, 32), (1024, 17), (5, 5)])
def test_tap_count_is_the_papers_formula_for_d1_and_T_at_least_k(T, k):
    assert tap_count(T, k) * 2 == (2 * T + 1 - k) * k


def test_short_sequences_only_pay_the_ramp():
    assert tap_count(3, 16) == 1 + 2 + 3
    assert tap_count(4, 3, dilation=5) == 4


def test_per_neuron_counts():
    assert psn_ops(32) == NeuronOps(mul=1024, add=1056)
    assert sliding_ops(32, 16) == NeuronOps(mul=392, add=424)
    assert sliding_ops(32, 16, mul_free=True) == NeuronOps(shift=392, add=424)
    assert masked_psn_ops(32, 16) == sliding_ops(32, 16)
    assert masked_psn_ops(32, 16, lambda_=0.3) == psn_ops(32)
    assert streaming_step_ops(3, mul_free=False) == NeuronOps(mul=3, add=4)
    assert (NeuronOps(1, 2, 3) + NeuronOps(1, 1, 1)).scale(2) == NeuronOps(4, 6, 8)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_bad_sizes_are_named(bad):
    with pytest.raises(ValueError, match="k: expected an integer >= 1"):
        tap_count(4, bad)


def test_energy_costs():
    c = EnergyCosts()
    assert (c.mul_pj, c.add_pj, c.shift_pj, c.mac_pj, c.ac_pj) == (3.7, 0.9, 0.13, 4.6, 0.9)
    assert c.pj(mul=1, add=1, shift=1, mac=1, ac=1) == pytest.approx(10.23)
    with pytest.raises(ValueError, match="shift_pj"):
        EnergyCosts(shift_pj=-1.0)
