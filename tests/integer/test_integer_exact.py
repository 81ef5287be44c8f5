"""Integer spikes equal the exact real neuron's (float64 oracle) for every representable input."""
from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional as sj_functional

from spikingjelly_mulfree.integer import IntegerCPSN, make_plan

from _integer_cases import float64_spikes, full_range_input, pow2_kernel, tie_biases

# dtype, k, dilation, T, frac_bits, (exp_lo, exp_hi), trailing dims
CASES = [
    (torch.int8, 1, 1, 1, 0, (-3, 3), ()),
    (torch.int8, 2, 1, 5, 4, (-6, 0), (2,)),
    (torch.int8, 3, 2, 9, 7, (-24, 8), (2, 3)),
    (torch.int8, 5, 3, 4, -2, (-4, 4), ()),
    (torch.int8, 16, 1, 20, 5, (-12, 0), (1,)),
    (torch.int16, 1, 1, 3, 10, (0, 0), (3,)),
    (torch.int16, 2, 4, 11, 8, (-8, 2), ()),
    (torch.int16, 4, 1, 7, 12, (-5, 5), (2, 2)),
    (torch.int16, 7, 2, 30, 0, (-10, 1), ()),
    (torch.int16, 3, 1, 6, 3, (-17, 0), (2,)),
    (torch.int32, 2, 1, 5, 16, (-3, 3), ()),
    (torch.int32, 3, 2, 8, 20, (-8, 0), (2,)),
    (torch.int32, 2, 3, 10, 24, (-10, 8), ()),
    (torch.int32, 4, 1, 4, 0, (-2, 1), (3,)),
]


def _run(case, seed):
    dtype, k, d, T, f, (lo, hi), trailing = case
    gen = torch.Generator().manual_seed(seed)
    C, N = 7, 3
    weight = pow2_kernel(C, k, lo, hi, gen)
    q = full_range_input((T, N, C, *trailing), dtype, gen)
    bias = tie_biases(weight, q, f, d, gen)
    plan = make_plan(weight, bias, f, dtype)
    out = IntegerCPSN(plan, d, f, dtype)(q)
    ref, h = float64_spikes(q, weight, bias, f, d)
    return out, ref, h, plan


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-k{c[1]}-d{c[2]}-T{c[3]}-f{c[4]}")
def test_spikes_equal_float64_oracle(case):
    ties = 0
    for seed in range(6):
        out, ref, h, _ = _run(case, seed)
        assert out.dtype == case[0] and out.shape == ref.shape
        assert torch.equal(out.bool(), ref), f"seed {seed}: {int((out.bool() != ref).sum())} differ"
        ties += int((h == 0).sum())
    assert ties > 0, "the case never put a charge exactly on the threshold"


def test_wide_bounds_switch_to_int64_and_stay_exact():
    out, ref, _, plan = _run(CASES[-2], seed=5)
    assert plan.accumulator == torch.int64 and plan.bound > 2**31
    assert torch.equal(out.bool(), ref)
    out, ref, _, plan = _run(CASES[9], seed=1)
    assert torch.equal(out.bool(), ref)


def test_extreme_inputs_reach_the_bound_without_overflow():
    weight = torch.tensor([[2.0**8, 2.0**-24, 2.0**8, 1.0]])
    for dtype in (torch.int8, torch.int16):
        info = torch.iinfo(dtype)
        plan = make_plan(weight, torch.zeros(1), 0, dtype)
        module = IntegerCPSN(plan, 1, 0, dtype)
        top = plan.bound // 2 ** (info.bits - 1) * info.max
        for value, expect in ((info.min, -plan.bound), (info.max, top)):
            q = torch.full((6, 1, 1), value, dtype=dtype)
            assert module.charge(q)[-1].item() == expect


def test_single_step_window_matches_multi_step_and_resets():
    dtype, f, d = torch.int16, 6, 2
    gen = torch.Generator().manual_seed(3)
    weight = pow2_kernel(5, 3, -6, 2, gen)
    q = full_range_input((12, 2, 5, 3), dtype, gen)
    bias = tie_biases(weight, q, f, d, gen)
    plan = make_plan(weight, bias, f, dtype)
    multi = IntegerCPSN(plan, d, f, dtype, step_mode="m")
    single = IntegerCPSN(plan, d, f, dtype, step_mode="s")
    assert "x_window" in dict(single.named_memories())
    for _ in range(2):
        steps = torch.stack([single(q[t]) for t in range(q.shape[0])])
        assert torch.equal(steps, multi(q))
        window = single.x_window
        assert window.dtype == dtype and window.shape == (single.receptive_field, 2, 5, 3)
        sj_functional.reset_net(single)
        assert single.x_window is None


def test_non_contiguous_input_and_spike_dtype():
    gen = torch.Generator().manual_seed(4)
    weight = pow2_kernel(4, 2, -3, 1, gen)
    q = full_range_input((3, 9, 4), torch.int8, gen).transpose(0, 1)
    bias = tie_biases(weight, q.contiguous(), 3, 1, gen)
    module = IntegerCPSN(make_plan(weight, bias, 3, torch.int8), 1, 3, torch.int8,
                         spike_dtype=torch.float32)
    out = module(q)
    ref, _ = float64_spikes(q.contiguous(), weight, bias, 3, 1)
    assert out.dtype == torch.float32 and torch.equal(out.bool(), ref)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    for case in (CASES[2], CASES[8], CASES[12]):
        dtype, k, d, T, f, (lo, hi), trailing = case
        gen = torch.Generator().manual_seed(0)
        weight = pow2_kernel(7, k, lo, hi, gen)
        q = full_range_input((T, 3, 7, *trailing), dtype, gen)
        bias = tie_biases(weight, q, f, d, gen)
        module = IntegerCPSN(make_plan(weight, bias, f, dtype), d, f, dtype)
        ref, _ = float64_spikes(q, weight, bias, f, d)
        assert torch.equal(module.cuda()(q.cuda()).cpu().bool(), ref)
