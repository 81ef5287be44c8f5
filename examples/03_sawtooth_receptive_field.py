# %% [markdown]
# # Sawtooth dilations and the receptive field
#
# One CPSN layer of order `k` and dilation `d` sees `(k-1)*d + 1` steps; a stack sees
# `1 + (k-1) * sum(d_l)`. With a small `k` (the paper uses k = 2 on SHD and DVS-Lip) a stack
# without dilation sees only a few steps. Growing the dilation layer by layer in a sawtooth —
# rise, then restart — stretches the receptive field over the whole sequence without leaving
# steps unseen.

# %%
import matplotlib.pyplot as plt
import torch
from spikingjelly.activation_based import functional

from spikingjelly_mulfree import (
    CPSN, sawtooth_dilations, set_sawtooth_dilations, stack_receptive_field,
)

for T in (7, 32, 100):
    d = sawtooth_dilations(num_layers=8, k=2, T=T)
    print(f"T={T:4d}: dilations {d}, receptive field {stack_receptive_field(2, d)}")

# %% [markdown]
# The rule (our reading of the paper): layer `l` gets `d_l = 1 + (l mod p)`, the period `p` being
# the smallest with `1 + (k-1) p (p+1)/2 >= T`, capped at the number of layers.
#
# ## Measuring the receptive field
#
# The surrogate gradient is non-zero everywhere, so the gradient of the last output step with
# respect to the input is non-zero exactly at the input steps the output depends on. (In eval
# mode the BatchNorm threshold uses running statistics; in training its batch statistics would
# couple all steps.)


# %%
def influence(dilations: list[int], T: int, k: int = 2) -> torch.Tensor:
    """|d output[T-1] / d input[t]| for each t, for a stack of CPSN layers."""
    net = torch.nn.Sequential(*[CPSN(channels=4, k=k, dilation=d) for d in dilations]).eval()
    x = torch.randn(T, 1, 4, requires_grad=True)
    net(x)[-1].sum().backward()
    functional.reset_net(net)
    return x.grad.abs().sum(dim=(1, 2))


T, layers = 48, 6
plain = [1] * layers
saw = sawtooth_dilations(layers, 2, T)
seen_plain = (influence(plain, T) > 0).sum().item()
seen_saw = (influence(saw, T) > 0).sum().item()
print("no dilation:", seen_plain, "steps; sawtooth", saw, ":", seen_saw, "steps")
assert seen_plain == stack_receptive_field(2, plain)
assert seen_saw == min(T, stack_receptive_field(2, saw))

# %%
reached = torch.stack([influence(plain, T) > 0, influence(saw, T) > 0]).float()
fig, ax = plt.subplots(figsize=(9, 1.8))
ax.imshow(reached, cmap="Oranges", aspect="auto", vmin=0, vmax=1.4)
ax.set_yticks([0, 1], [f"d = {plain}", f"sawtooth d = {saw}"])
ax.set_xlabel("input time step t (coloured: reaches the last output step)")
ax.set_title(f"receptive field of {layers} stacked CPSN layers, k = 2, T = {T}")
plt.show()

# %% [markdown]
# ## Assigning dilations to a network
#
# `set_sawtooth_dilations(net, T)` walks the network's CPSN layers in order and assigns the
# sawtooth; an explicit list overrides the rule.

# %%
net = torch.nn.Sequential(*[CPSN(k=2) for _ in range(5)])
print(set_sawtooth_dilations(net, T=16))
print(set_sawtooth_dilations(net, T=16, dilations=[1, 2, 4, 8, 1]))
print([m.dilation for m in net])

# %% [markdown]
# ## Receptive field against depth

# %%
depths = range(1, 13)
fig, ax = plt.subplots(figsize=(6, 3.2))
for T_target in (32, 128):
    ax.plot(depths, [stack_receptive_field(2, sawtooth_dilations(L, 2, T_target)) for L in depths],
            marker="o", label=f"sawtooth for T = {T_target}")
ax.plot(depths, [stack_receptive_field(2, [1] * L) for L in depths], marker="o",
        label="no dilation")
ax.set_xlabel("CPSN layers (k = 2)")
ax.set_ylabel("receptive field (steps)")
ax.set_yscale("log", base=2)
ax.legend(fontsize=8)
plt.show()
