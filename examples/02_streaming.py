# %% [markdown]
# # Streaming inference, one step at a time
#
# Train in multi-step mode (all time steps in parallel), deploy in single-step mode (one step as it
# arrives). In eval mode the two give exactly the same spikes. The neuron keeps only the last
# `(k-1)*dilation + 1` inputs as its state, updates it in place under `torch.no_grad()`, and
# `functional.reset_net` clears it between sequences.

# %%
import torch
from spikingjelly.activation_based import functional, layer, neuron

from spikingjelly_mulfree import CPSN

torch.manual_seed(0)
T, N = 12, 4
net = torch.nn.Sequential(
    layer.Linear(16, 32), CPSN(k=3, dilation=2),
    layer.Linear(32, 32), CPSN(k=4),
    layer.Linear(32, 5),
).double()
functional.set_step_mode(net, "m")
x = torch.randn(T, N, 16, dtype=torch.float64)
net(x)  # dry run (lazy channels) in training mode: the BN thresholds see one batch
functional.reset_net(net)
net.eval()

# %% [markdown]
# ## Multi-step: the whole sequence at once

# %%
with torch.no_grad():
    out_multi = net(x)  # [T, N, 5]
functional.reset_net(net)
out_multi.shape

# %% [markdown]
# ## Single-step: one step at a time
#
# `set_step_mode(net, "s")` switches every layer; each call now takes `[N, features]`.

# %%
functional.set_step_mode(net, "s")
with torch.no_grad():
    out_stream = torch.stack([net(x[t]) for t in range(T)])
print("max difference:", (out_stream - out_multi).abs().max().item())
assert torch.allclose(out_stream, out_multi, atol=1e-12)
print("state of the first CPSN:", tuple(net[1].x_window.shape), "= (k-1)*d+1 steps of [N, C]")

# %% [markdown]
# ## The state is a ring buffer
#
# Under `torch.no_grad()` each step writes its input into slot `x_window_pos` of the window and
# reads the `k` tap rows: the window is never copied, and the same tensor lives through the whole
# sequence. (When a gradient is needed — training in `'s'` mode — the window is instead rebuilt
# out of place each step, so autograd reaches the past inputs.)

# %%
ring = net[1].x_window
print("next slot:", net[1].x_window_pos, "of", ring.shape[0])
with torch.no_grad():
    net(x[0])
print("next slot:", net[1].x_window_pos, "of", ring.shape[0])
assert net[1].x_window is ring

# %% [markdown]
# ## Reset between sequences
#
# After a sequence the window still holds its last inputs: a new sequence started without a reset
# would see them as its past. `functional.reset_net(net)` empties the window, so the next
# sequence starts from an all-zero past, as the multi-step forward does.

# %%
print("window after the sequence holds data:", bool(net[1].x_window.abs().sum() > 0))
functional.reset_net(net)
print("window after reset_net:", net[1].x_window)
assert net[1].x_window is None
with torch.no_grad():
    first = net(x[0])
assert torch.allclose(first, out_multi[0])
functional.reset_net(net)

# %% [markdown]
# ## State memory against SpikingJelly's sliding PSN
#
# The paper's step-by-step comparison (its Table 5) sets a sliding PSN of order 32 against this
# neuron with k = 4 at T = 32: the state is a queue of the last k inputs for both, so its size
# grows with k.


# %%
def state_bytes(module: torch.nn.Module) -> int:
    total = 0
    for name in module._memories:
        value = getattr(module, name)
        items = value if isinstance(value, (list, tuple)) else [value]
        total += sum(t.numel() * t.element_size() for t in items if isinstance(t, torch.Tensor))
    return total


xs = torch.randn(32, 8, 64, 16)
sliding = neuron.SlidingPSN(k=32, step_mode="s")
cpsn = CPSN(channels=64, k=4, step_mode="s").eval()
with torch.no_grad():
    for t in range(32):
        sliding(xs[t])
        cpsn(xs[t])
print(f"SlidingPSN k=32: {state_bytes(sliding) / 2**10:.0f} KiB, "
      f"CPSN k=4: {state_bytes(cpsn) / 2**10:.0f} KiB")
assert state_bytes(cpsn) * 8 == state_bytes(sliding)
