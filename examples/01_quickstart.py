# %% [markdown]
# # Quickstart: CPSN in a SpikingJelly network
#
# This notebook puts the multiplication-free channel-wise parallel spiking neuron (CPSN) into an
# ordinary SpikingJelly network, trains it for a few epochs on scikit-learn's bundled 8x8 digits
# (no download) and looks at the power-of-two weights it learned.
#
# Each image is read as a sequence: time step `t` is image column `t`, its 8 pixels are the
# features, so the input is time-first, `[T=8, N, 8]`, SpikingJelly's multi-step layout.

# %%
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from spikingjelly.activation_based import functional, layer

from spikingjelly_mulfree import CPSN

torch.manual_seed(0)
digits = load_digits()
images = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # [N, 8 rows, 8 columns]
labels = torch.tensor(digits.target)
seq = images.permute(2, 0, 1).contiguous()  # [T = 8 columns, N, 8 rows]
x_train, y_train = seq[:, :1400], labels[:1400]
x_test, y_test = seq[:, 1400:], labels[1400:]
seq.shape

# %% [markdown]
# ## Build the network
#
# `CPSN(k=4)` goes wherever a SpikingJelly neuron goes. Its channel count is inferred at the first
# forward (`channels=None`), like PyTorch's lazy modules — so run one **dry-run forward before
# building the optimizer**, otherwise the optimizer would hold uninitialised parameters.

# %%
net = torch.nn.Sequential(
    layer.Linear(8, 64), CPSN(k=4),
    layer.Linear(64, 64), CPSN(k=4),
    layer.Linear(64, 10),
)
functional.set_step_mode(net, "m")
with torch.no_grad():
    net(x_train[:, :2])  # dry run: CPSN layers learn their channel count (64)
functional.reset_net(net)
optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
print(net)

# %% [markdown]
# ## Train a few epochs
#
# The readout averages the last layer over time. `functional.reset_net` after every batch is the
# SpikingJelly habit; CPSN's multi-step forward keeps no state, but stateful neurons elsewhere would.


# %%
def accuracy(x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    with torch.no_grad():
        pred = net(x).mean(0).argmax(1)
    functional.reset_net(net)
    net.train()
    return (pred == y).float().mean().item()


for epoch in range(3):
    order = torch.randperm(x_train.shape[1])
    for start in range(0, len(order), 100):
        idx = order[start:start + 100]
        loss = F.cross_entropy(net(x_train[:, idx]).mean(0), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        functional.reset_net(net)
    print(f"epoch {epoch}: loss {loss.item():.3f}, test accuracy {accuracy(x_test, y_test):.3f}")

# %%
assert accuracy(x_test, y_test) > 0.5

# %% [markdown]
# ## The weights are powers of two
#
# `effective_kernel()` returns the exact kernel applied in eval mode: the latent weights with the
# BatchNorm threshold fused in, then rounded to signed powers of two, and the bias. Every
# multiplication by such a weight is a shift.

# %%
weight, bias = net[1].effective_kernel()
print(weight[:3])
nonzero = weight[weight != 0].abs()
assert torch.equal(nonzero, torch.exp2(torch.log2(nonzero).round()))
print("exponents used:", sorted(set(torch.log2(nonzero).int().tolist())))
