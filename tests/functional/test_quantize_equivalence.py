"""The quantizer's few-op form equals the plain definition round(log2|w|) on every float dtype,
over values spread across the whole exponent range, the tie neighbourhoods 2**(k + 1/2),
zeros, infinities and several exponent ranges.

A tie is irrational, so no float weight is one; but a float64 weight within a few ulps of one
has a float64 log2 that rounds to k + 1/2 exactly, and there the two forms may break the tie
differently (both are then within 1e-15 of the boundary): such weights are left out of the
float64 comparison. In float32 and narrower dtypes no weight comes that close."""
from __future__ import annotations

import pytest
import torch

from spikingjelly_mulfree.functional import pow2_exponent, quantize_pow2


def _plain(w: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    a = w.double().abs()
    raw = torch.round(torch.log2(torch.where(a > 0, a, torch.ones_like(a))))
    keep = (a > 0) & (raw >= lo)
    return torch.where(keep, torch.sign(w.double()) * torch.exp2(raw.clamp(max=hi)), 0.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("lo,hi", [(-24, 8), (-6, 2), (0, 0), (-140, 20)])
def test_few_op_form_equals_the_definition(dtype, lo, hi):
    gen = torch.Generator().manual_seed(0)
    spread = torch.randn(20000, generator=gen, dtype=torch.float64) * 10 ** (
        torch.rand(20000, generator=gen, dtype=torch.float64) * 18 - 12)
    near_ties = 2 ** (torch.arange(-30, 12, dtype=torch.float64) + 0.5)
    near_ties = torch.cat([near_ties, near_ties.nextafter(torch.zeros_like(near_ties)),
                           near_ties.nextafter(torch.full_like(near_ties, 1e9))])
    special = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), 1e-300, -3e38])
    w = torch.cat([spread, near_ties, -near_ties, special]).to(dtype)
    if dtype == torch.float64:
        frac = torch.log2(w.abs()).remainder(1.0)
        w = w[~((frac - 0.5).abs() < 1e-12)]
    expected = _plain(w, lo, hi)
    assert torch.equal(quantize_pow2(w, lo, hi).double(), expected.to(dtype).double())
    sign, exp = pow2_exponent(w, lo, hi)
    assert torch.equal((sign.double() * torch.exp2(exp.double())).to(dtype), expected.to(dtype))
