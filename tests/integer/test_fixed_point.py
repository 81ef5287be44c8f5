"""quantize_input / dequantize: the fixed-point format of the integer neuron's inputs."""
from __future__ import annotations

import pytest
import torch

from spikingjelly_mulfree.integer import quantize_input


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32])
def test_nan_has_no_fixed_point_value_and_is_refused(dtype):
    x = torch.tensor([[0.5, 1.0], [float("nan"), 2.0]])
    with pytest.raises(ValueError, match=r"x: expected no NaN.*index \(1, 0\)"):
        quantize_input(x, 4, dtype)


def test_infinities_saturate():
    x = torch.tensor([float("inf"), -float("inf")])
    assert quantize_input(x, 4, torch.int8).tolist() == [127, -128]


EXPONENTS = [-4000, -2100, -1200, -1100, -1076, -1075, -1074, -1023, 0, 1023, 1024, 1100, 2047,
             2100, 5000]


def test_scaling_by_any_power_of_two_rounds_once_like_math_ldexp():
    """torch.ldexp's 2**e is 0 or inf beyond float64's exponents: 0 * inf gave NaN (quantized
    to INT_MIN), tiny values saturated, and dequantize lost the subnormal results."""
    import math

    from spikingjelly_mulfree.integer.fixed_point import scale_pow2

    values = [0.0, -0.0, 1.0, -3.0, 0.75, 5e-324, 1.5e-323, 2.0**-1022, 1.7976931348623157e308,
              math.pi, -math.e * 2.0**-1050, math.inf, -math.inf]
    x = torch.tensor(values, dtype=torch.float64)
    for e in EXPONENTS:
        got = scale_pow2(x, e).tolist()
        for v, g in zip(values, got):
            try:
                want = math.ldexp(v, e)
            except OverflowError:
                want = math.copysign(math.inf, v)
            assert g == want and math.copysign(1, g) == math.copysign(1, want), (v, e, g)


def test_fixed_point_round_trips_at_extreme_fractional_bits():
    from spikingjelly_mulfree.integer import dequantize

    zeros = torch.zeros(3, dtype=torch.float64)
    assert quantize_input(zeros, 1024, torch.int32).tolist() == [0, 0, 0]
    assert quantize_input(torch.tensor([2.0**-1074], dtype=torch.float64), 1024,
                          torch.int8).tolist() == [0]
    assert dequantize(torch.tensor([0, 3], dtype=torch.int8), -1024).tolist() == [0.0, float("inf")]
    assert dequantize(torch.tensor([3], dtype=torch.int32), 1075).tolist() == [2 * 5e-324]
    q = torch.tensor([-7, 0, 100], dtype=torch.int16)
    assert torch.equal(quantize_input(dequantize(q, 1040), 1040, torch.int16), q)
