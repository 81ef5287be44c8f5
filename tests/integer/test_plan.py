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
    assert "narrower input dtype" in message


def test_int8_overflow_advice_does_not_ask_for_a_narrower_dtype():
    wide = torch.tensor([[2.0**-40, 2.0**40]], dtype=torch.float64)
    with pytest.raises(OverflowError) as info:
        make_plan(wide, torch.zeros(1), 4, torch.int8)
    assert "narrower input dtype" not in str(info.value)
    assert "exp_range" in str(info.value)


@pytest.mark.parametrize("shape", [(2, 0), (0, 3)])
def test_an_empty_kernel_is_refused_by_name(shape):
    """k = 0 failed in amin ('Expected reduction dim 1 to have non-zero size'), C = 0 in max."""
    with pytest.raises(ValueError, match=r"expected shapes \[C, k\] and \[C\] with C, k >= 1"):
        make_plan(torch.zeros(shape), torch.zeros(shape[0]), 4, torch.int8)


def test_int32_inputs_take_int64_even_for_an_all_zero_kernel():
    """The accumulator holds an input itself (|q| up to 2**31 for int32), which the integer
    kernel refuses to put in int32: an all-zero kernel (bound 0) got int32, and its first
    forward on the kernel path raised with advice to pass 'auto', which it already was."""
    zero = torch.zeros(2, 3)
    assert make_plan(zero, torch.zeros(2), 1, torch.int32).accumulator == torch.int64
    assert make_plan(zero, torch.zeros(2), 1, torch.int16).accumulator == torch.int32
    with pytest.raises(OverflowError, match=r"int32 inputs need a wider accumulator than "
                                            r"torch.int32 \(\|q\| alone reaches 2\*\*31\)"):
        make_plan(zero, torch.zeros(2), 1, torch.int32, accumulator=torch.int32)


def test_an_all_zero_kernel_exports_on_the_kernel_path():
    from spikingjelly_mulfree import CPSN

    sn = CPSN(channels=1, k=2, threshold=0.5).eval()
    with torch.no_grad():
        sn.weight.zero_()
    for backend in ("kernel", "torch"):
        isn = sn.to_integer(1, torch.int32, backend=backend)
        assert isn(torch.ones(3, 1, 1, dtype=torch.int32)).flatten().tolist() == [0, 0, 0]


def test_thresholds_equal_the_exact_ceiling_clamped_to_the_bound():
    """The threshold skips forming 2**scale far outside [-bound, bound + 1] (seconds at
    frac_bits = 1e9); elsewhere it is the exact rational ceiling."""
    import math
    import random
    from fractions import Fraction

    from spikingjelly_mulfree.integer.plan import _threshold

    rng = random.Random(3)
    for _ in range(3000):
        bias = rng.choice([0.0, rng.uniform(-1, 1) * 2.0 ** rng.randint(-40, 40),
                           2.0 ** rng.randint(-40, 40), -(2.0 ** rng.randint(-40, 40))])
        scale = rng.randint(-50, 50)
        bound = rng.choice([0, 1, 2, 255, 256, 2**31 - 2, rng.randint(0, 2**40)])
        exact = math.ceil(-Fraction(bias) * Fraction(2) ** scale)
        assert _threshold(bias, scale, bound) == min(max(exact, -bound), bound + 1)
    plan = make_plan(WEIGHT[:1], torch.tensor([-0.3]), 10**9, torch.int8)
    assert plan.threshold.tolist() == [plan.bound + 1]
