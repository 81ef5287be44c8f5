# %% [markdown]
# # Multiplication-free weights and integer inference
#
# Every tap of a trained CPSN is `0` or `±2^e`. This notebook shows where those powers of two come
# from (the latent weights, the BatchNorm threshold folded in, then rounding in the log2 domain),
# checks that the charge really is a sum of shifted inputs, and exports a neuron to integer
# arithmetic.

# %%
import torch

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.functional import pow2_exponent, quantize_pow2

print(quantize_pow2(torch.tensor([0.36, 0.3, -3.0, 1e-9, 0.0])))

# %% [markdown]
# `0.36 -> 0.5` and `0.3 -> 0.25`: rounding happens on `log2|w|`. Exact zeros stay zero, and a
# weight below the lowest power in the exponent range (default `2^-24`) underflows to zero. The
# gradient passes straight through the whole quantizer (`dQ/dw = 1`).
#
# ## The effective kernel of a trained neuron

# %%
torch.manual_seed(0)
sn = CPSN(channels=3, k=4, init="uniform")
x = torch.randn(16, 32, 3) * 2 + 0.5  # [T, N, C]
opt = torch.optim.SGD(sn.parameters(), lr=0.05)
for _ in range(5):  # a few steps so the BN threshold has statistics and the weights moved
    loss = (sn(x).mean() - 0.2) ** 2
    opt.zero_grad()
    loss.backward()
    opt.step()
sn = sn.double().eval()  # float64 from here: exact sums make the comparisons below exact
x = x.double()
weight, bias = sn.effective_kernel()
sign, exp = pow2_exponent(weight)
print("latent weight:\n", sn.weight.data)
print("effective weight (BN fused, quantized):\n", weight)
print("sign:\n", sign, "\nexponent:\n", exp)
assert torch.equal(weight, sign * torch.exp2(exp.double()))

# %% [markdown]
# ## The charge is a sum of shifted inputs
#
# With `W[c, i] = s * 2^e`, `W[c, i] * x` is `x` shifted by `e` bits. `torch.ldexp` does exactly
# that for floats (it adds `e` to the exponent); no multiply by a weight is needed.

# %%
with torch.no_grad():
    spikes = sn(x)
T, k = x.shape[0], sn.k
h = bias.view(1, 1, -1).expand_as(x).clone()
for i in range(k):
    lag = k - 1 - i
    shifted = torch.ldexp(x[: T - lag], exp[:, i].view(1, 1, -1)) * sign[:, i].view(1, 1, -1)
    h[lag:] += shifted
assert torch.equal((h >= 0).double(), spikes)
print("spikes from shift-and-add match the module:", spikes.mean().item(), "firing rate")

# %% [markdown]
# ## Integer export
#
# `to_integer(cpsn, frac_bits, dtype)` turns the eval-mode neuron into a module that takes
# fixed-point integer inputs (`q * 2^-frac_bits`) and computes its spikes with left shifts, adds
# and one compare, accumulating in int32 or int64 (chosen from a worst-case bound, or an
# `OverflowError` if none suffices). Its spikes equal those of the exact neuron for every input
# representable in that format.

# %%
from spikingjelly_mulfree.integer import dequantize, quantize_input, to_integer

isn = to_integer(sn, frac_bits=8, dtype=torch.int16)
print(isn)
q = quantize_input(x, frac_bits=8, dtype=torch.int16)
int_spikes = isn(q)
with torch.no_grad():
    float_spikes = sn(dequantize(q, 8))
mismatch = (int_spikes.double() != float_spikes).sum().item()
print(f"integer vs float spikes: {mismatch} of {q.numel()} differ")
assert mismatch <= 2  # only near-ties that float rounding decides may differ
