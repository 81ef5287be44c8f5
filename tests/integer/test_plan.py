"""make_plan: the worst-case bound and the advice of its overflow error."""
from __future__ import annotations

import pytest
import torch

from spikingjelly_mulfree.integer import make_plan

WEIGHT = torch.tensor([[1.0, 1.0], [2.0**-30, 2.0**40]], dtype=torch.float64)


@pytest.mark.parametrize("frac_bits", [-40, 0, 40])
def test_the_bound_does_not_depend_on_frac_bits(frac_bits):
    assert make_plan(WEIGHT[:1], torch.zeros(1), frac_bits, torch.int8).bound == 256


def test_overflow_advice_names_the_channel_and_not_frac_bits():
    with pytest.raises(OverflowError) as info:
        make_plan(WEIGHT, torch.zeros(2), 4, torch.int16)
    message = str(info.value)
    assert "fractional bits" not in message  # frac_bits does not change the bound
    assert "channel 1" in message and "2**-30 to 2**40" in message
