# %% [markdown]
# # Energy report of a network
#
# How many multiplications, shifts and additions does a network spend per input, and what does
# that cost at 45 nm? `spikingjelly_mulfree.energy.count_energy` runs one inference forward under
# SpikingJelly's op counters and returns per-layer and total counts: MUL / SHIFT / ADD for neuron
# layers (CPSN, PSN, MaskedPSN, SlidingPSN — from the layer and its input shape, whichever
# backend ran) and MAC / AC for synaptic layers (AC where the input is spikes), with energy from
# the paper's per-operation costs (FP32 MUL 3.7 pJ, ADD 0.9 pJ, FIX32 shift 0.13 pJ,
# MAC 4.6 pJ, AC 0.9 pJ).

# %%
import matplotlib.pyplot as plt
import torch
from IPython import get_ipython
from IPython.display import Markdown, display
from spikingjelly.activation_based import functional, layer, neuron

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.energy import count_energy, table6_markdown, table6_reports


def show(markdown: str) -> None:
    """A markdown table: rendered in a notebook, printed as text when run as a script."""
    if get_ipython() is None:
        print(markdown)
    else:
        display(Markdown(markdown))

torch.manual_seed(0)
T, N = 16, 4


def make(spiking_neuron) -> torch.nn.Sequential:
    net = torch.nn.Sequential(
        layer.Linear(8, 64), spiking_neuron(),
        layer.Linear(64, 64), spiking_neuron(),
        layer.Linear(64, 10),
    )
    functional.set_step_mode(net, "m")
    return net


nets = {
    "CPSN k=4": make(lambda: CPSN(k=4)),
    "SlidingPSN k=4": make(lambda: neuron.SlidingPSN(k=4, step_mode="m")),
    "PSN": make(lambda: neuron.PSN(T=T)),
}
x = torch.rand(T, N, 8)
for net in nets.values():
    net(x)  # dry run (CPSN's lazy channels)
    functional.reset_net(net)

# %% [markdown]
# ## One network, layer by layer

# %%
report = count_energy(nets["CPSN k=4"], x)
show(report.to_markdown())
assert report.total("mul", "neuron") == 0 and report.total("shift", "neuron") > 0

# %% [markdown]
# The counts are for the whole batch of `N` inputs. CPSN's neuron layers use shifts and
# additions only; the first linear layer sees real-valued input (MAC), the later ones spikes (AC).
#
# ## Three neurons, same network

# %%
reports = {name: count_energy(net, x) for name, net in nets.items()}
for name, rep in reports.items():
    print(f"{name:15s} neuron layers: MUL {rep.total('mul', 'neuron') // N:6,d}  "
          f"SHIFT {rep.total('shift', 'neuron') // N:6,d}  ADD {rep.total('add', 'neuron') // N:6,d}"
          f"  -> {rep.energy_uj('neuron') / N * 1e3:.2f} nJ per input")
assert reports["CPSN k=4"].energy_uj("neuron") < reports["SlidingPSN k=4"].energy_uj("neuron")
assert reports["SlidingPSN k=4"].energy_uj("neuron") < reports["PSN"].energy_uj("neuron")

fig, ax = plt.subplots(figsize=(6, 3))
names = list(reports)
ax.bar(names, [reports[n].energy_uj("neuron") / N * 1e3 for n in names], label="neuron layers")
ax.bar(names, [reports[n].energy_uj("synapse") / N * 1e3 for n in names],
       bottom=[reports[n].energy_uj("neuron") / N * 1e3 for n in names], label="synaptic layers")
ax.set_ylabel("energy per input (nJ, 45 nm)")
ax.legend()
plt.show()

# %% [markdown]
# The sliding PSN does the same number of operations as CPSN, but its weights are real numbers, so
# each tap is a multiplication; PSN's dense `T x T` weights cost `T^2` multiplications per neuron.
#
# ## The paper's Table 6
#
# The sequential-CIFAR-100 network of the paper at `T = 32`, one image: neuron-layer counts and
# energy next to the paper's figures (PSN 1.91e7 MUL + 1.97e7 ADD = 88.56 µJ; CPSN with k = 16
# 7.32e6 SHIFT + 7.92e6 ADD = 8.08 µJ). The same table is printed by
# `python -m spikingjelly_mulfree.energy`.

# %%
show(table6_markdown(table6_reports()))
