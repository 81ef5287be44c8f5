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
