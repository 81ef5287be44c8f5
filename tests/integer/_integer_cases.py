"""Random power-of-two kernels, biases with exact ties, and full-range integer inputs, plus the
float64 oracle (exact on these cases, which the helpers assert)."""
from __future__ import annotations

import math

import torch

from spikingjelly_mulfree.functional import charge_reference
from spikingjelly_mulfree.integer import dequantize


def pow2_kernel(C: int, k: int, exp_lo: int, exp_hi: int, gen: torch.Generator) -> torch.Tensor:
    """``[C, k]`` float32 taps: random sign (a quarter zero) times ``2**e``, e in [lo, hi]."""
    sign = torch.randint(-1, 2, (C, k), generator=gen).float()
    sign[torch.rand(C, k, generator=gen) < 0.25] = 0.0
    exp = torch.randint(exp_lo, exp_hi + 1, (C, k), generator=gen).float()
    return sign * torch.exp2(exp)


def full_range_input(
    shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator
) -> torch.Tensor:
    """Integers over the whole range of ``dtype``, with the extremes and small values mixed in."""
    info = torch.iinfo(dtype)
    q = torch.randint(info.min, info.max + 1, shape, generator=gen, dtype=torch.int64)
    pick = torch.rand(shape, generator=gen)
    q = torch.where(pick < 0.1, torch.full_like(q, info.min), q)
    q = torch.where((pick >= 0.1) & (pick < 0.2), torch.full_like(q, info.max), q)
    small = torch.randint(-3, 4, shape, generator=gen)
    q = torch.where((pick >= 0.2) & (pick < 0.5), small, q)
    return q.to(dtype)


def tie_biases(weight: torch.Tensor, q: torch.Tensor, frac_bits: int, dilation: int,
               gen: torch.Generator) -> torch.Tensor:
    """Per-channel float32 biases: a third put an actual charge value exactly on the threshold,
    a third sit half a grid step off one, the rest are random float32 numbers (for int32
    inputs, multiples of 1/256 of the grid, so the float64 oracle stays exact)."""
    x = dequantize(q, frac_bits).reshape(q.shape[0], q.shape[1], q.shape[2], -1)
    h0 = charge_reference(x, weight.double(), None, dilation)
    C = weight.shape[0]
    bias = torch.empty(C, dtype=torch.float64)
    for c in range(C):
        values = h0[:, :, c].flatten()
        fits = values[values.float().double() == values]
        v = fits[torch.randint(len(fits), (1,), generator=gen)].item() if len(fits) else 0.0
        nz = weight[c][weight[c] != 0].abs()
        grid = (nz.min().item() if len(nz) else 1.0) * 2.0**-frac_bits
        kind = c % 3
        if kind == 0:
            bias[c] = -v
        elif kind == 1:
            bias[c] = -(v + grid / 2)
        else:
            r = (torch.randn((), generator=gen) * (values.abs().max() + 1)).item()
            if q.dtype == torch.int32:
                r = round(r / grid * 256) * grid / 256
            bias[c] = r
    return bias.float()


def float64_spikes(q: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, frac_bits: int,
                   dilation: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and charge of the real neuron in float64, after checking that every float64
    operation on this case is exact (all values are multiples of one power of two ``2**g``
    and stay below ``2**(g + 52)``)."""
    bits = torch.iinfo(q.dtype).bits
    nz = weight[weight != 0].abs().double()
    grid = math.log2(nz.min().item()) - frac_bits if len(nz) else 0.0
    for b in bias.double().tolist():
        if b != 0:
            grid = min(grid, _lowest_bit(b))
    top = 2.0 ** (bits - 1) * weight.abs().double().sum(1).max().item() * 2.0**-frac_bits
    top += bias.abs().double().max().item()
    assert top < 2.0 ** (grid + 52), "test case too wide for an exact float64 oracle"
    x = dequantize(q, frac_bits).reshape(q.shape[0], q.shape[1], q.shape[2], -1)
    h = charge_reference(x, weight.double(), bias.double(), dilation).reshape(q.shape)
    return (h >= 0), h


def _lowest_bit(b: float) -> int:
    """Exponent of the lowest set bit of a finite non-zero float."""
    num, den = abs(b).as_integer_ratio()
    low = (num & -num).bit_length() - 1
    return low - (den.bit_length() - 1)
