"""to_integer / CPSN.to_integer: conversion from a trained neuron, errors and overflow checks."""
from __future__ import annotations

import pytest
import torch
from _integer_cases import float64_spikes, full_range_input

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.integer import (
    IntegerCPSN, dequantize, make_plan, pow2_decompose, quantize_input, to_integer,
)


def _trained_like(threshold, k=4, dilation=2, C=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sn = CPSN(channels=C, k=k, dilation=dilation, threshold=threshold, init="uniform")
    with torch.no_grad():
        sn.weight.copy_(torch.randn(C, k, generator=gen))
        if threshold == "bn":
            sn.running_mean.copy_(torch.randn(C, generator=gen))
            sn.running_var.copy_(torch.rand(C, generator=gen) + 0.5)
            sn.bn_weight.copy_(torch.rand(C, generator=gen) + 0.5)
            sn.bn_bias.copy_(-torch.rand(C, generator=gen))
        elif threshold == "learnable":
            sn.v_threshold.copy_(torch.rand(C, generator=gen))
    return sn.eval()


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.75])
@pytest.mark.parametrize("dtype,frac_bits", [(torch.int8, 4), (torch.int16, 9)])
def test_matches_effective_kernel_exactly(threshold, dtype, frac_bits):
    sn = _trained_like(threshold)
    isn = sn.to_integer(frac_bits, dtype)
    assert isinstance(isn, IntegerCPSN) and isn.dilation == 2
    q = full_range_input((10, 3, 6, 2), dtype, torch.Generator().manual_seed(1))
    weight, bias = sn.effective_kernel()
    ref, _ = float64_spikes(q, weight, bias, frac_bits, sn.dilation)
    assert torch.equal(isn(q).bool(), ref)


def test_matches_cpsn_float64_forward_for_a_float_threshold():
    sn = _trained_like("learnable")
    isn = to_integer(sn, frac_bits=6, dtype=torch.int16)
    q = full_range_input((12, 2, 6), torch.int16, torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = sn(dequantize(q, 6))
    assert expected.dtype == torch.float64
    assert torch.equal(isn(q), expected.to(torch.int16))


def test_float32_path_differs_only_at_near_ties():
    sn = _trained_like("bn", k=8, dilation=1)
    isn = to_integer(sn, frac_bits=5, dtype=torch.int16)
    q = full_range_input((16, 4, 6), torch.int16, torch.Generator().manual_seed(3))
    weight, bias = sn.effective_kernel()
    _, h = float64_spikes(q, weight, bias, 5, 1)
    with torch.no_grad():
        fp32 = sn(dequantize(q, 5, torch.float32)).bool()
    differ = isn(q).bool() != fp32
    assert bool((h[differ].abs() <= 1e-6 * h.abs().max()).all())


def test_step_mode_and_accumulator_arguments():
    sn = _trained_like(0.5)
    sn.step_mode = "s"
    isn = to_integer(sn, 3, torch.int8)
    assert isn.step_mode == "s" and isn.accumulator == torch.int32
    wide = to_integer(sn, 3, torch.int8, step_mode="m", accumulator=torch.int64)
    assert wide.accumulator == torch.int64 and wide.step_mode == "m"


def test_refuses_weights_that_are_not_powers_of_two():
    sn = CPSN(channels=3, k=2, mul_free=False, init="uniform").eval()
    with pytest.raises(ValueError, match="mul_free=True"):
        to_integer(sn, 4, torch.int8)
    with pytest.raises(ValueError, match="0 or"):
        pow2_decompose(torch.tensor([0.5, 0.3]))
    with pytest.raises(ValueError, match=r"finite taps, got nan at index \(0, 1\).*diverged"):
        pow2_decompose(torch.tensor([[0.5, float("nan")]]))
    with pytest.raises(ValueError, match="floating-point taps, got dtype torch.int32"):
        pow2_decompose(torch.tensor([1, 2], dtype=torch.int32))


def test_overflow_is_checked_up_front_and_names_the_bound():
    weight = torch.tensor([[2.0**8, 2.0**-24]])
    with pytest.raises(OverflowError, match=r"\|H_int\| <= 549755814016.*accumulator='auto'"):
        make_plan(weight, torch.zeros(1), 0, torch.int8, accumulator=torch.int32)
    assert make_plan(weight, torch.zeros(1), 0, torch.int8).accumulator == torch.int64
    with pytest.raises(OverflowError, match="int64") as info:
        make_plan(weight.double(), torch.zeros(1), 0, torch.int32)
    assert "accumulator='auto'" not in str(info.value)  # it is 'auto' already


def test_thresholds_beyond_the_bound_are_clamped():
    plan = make_plan(torch.tensor([[1.0], [1.0]]), torch.tensor([-1e30, 1e30]), 0, torch.int8)
    assert plan.threshold.tolist() == [129, -128]
    module = IntegerCPSN(plan, 1, 0, torch.int8)
    q = torch.tensor([[127, -128]], dtype=torch.int8).view(1, 1, 2)
    assert module(q).flatten().tolist() == [0, 1]


def test_argument_and_input_errors_name_the_fix():
    sn = _trained_like(1.0)
    with pytest.raises(ValueError, match="frac_bits"):
        to_integer(sn, 2.5, torch.int8)
    with pytest.raises(ValueError, match="dtype"):
        to_integer(sn, 2, torch.float32)
    with pytest.raises(ValueError, match="accumulator"):
        to_integer(sn, 2, torch.int8, accumulator=torch.int16)
    with pytest.raises(TypeError, match="CPSN"):
        to_integer(torch.nn.Linear(2, 2), 2)
    isn = to_integer(sn, 2, torch.int8)
    with pytest.raises(TypeError, match="quantize_input"):
        isn(torch.zeros(3, 1, 6))
    with pytest.raises(ValueError, match="6 channels"):
        isn(torch.zeros(3, 1, 5, dtype=torch.int8))


def test_quantize_input_round_trips_and_saturates():
    x = torch.tensor([0.3, -1.0, 1e6, -1e6, 2.5 / 16])
    q = quantize_input(x, 4, torch.int16)
    assert q.tolist() == [5, -16, 32767, -32768, 2]
    assert dequantize(q, 4).tolist()[:2] == [0.3125, -1.0]
