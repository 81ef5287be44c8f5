"""count_energy: one report with per-layer rows, totals, per-sample energy."""
import json

import pytest
import torch
from spikingjelly.activation_based import layer, neuron as sj_neuron
from torch import nn

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.energy import EnergyCosts, count_energy, sliding_ops


def small_net(neuron=None):
    sn = neuron if neuron is not None else CPSN(4, k=3)
    return nn.Sequential(
        layer.Conv1d(2, 4, 3, padding=1, bias=False, step_mode="m"),
        layer.BatchNorm1d(4, step_mode="m"),
        sn,
        layer.AvgPool1d(2, 2, step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.Linear(4 * 4, 5, step_mode="m"),
    )


def test_rows_totals_and_energy_per_sample():
    T, N = 6, 3
    net = small_net().train()
    rep = count_energy(net, torch.rand(T, N, 2, 8))
    assert net.training  # mode restored
    kinds = [(r.name, r.kind) for r in rep.layers]
    assert kinds == [("0", "synapse"), ("2", "neuron"), ("5", "synapse")]
    per = sliding_ops(T, 3, mul_free=True)
    sn = rep.layers[1]
    assert sn.neurons == 4 * 8 and rep.neurons == 32
    assert (sn.shift, sn.add, sn.mul) == (per.shift * 32 * N, per.add * 32 * N, 0)
    assert 0.0 <= sn.firing_rate <= 1.0
    conv, fc = rep.layers[0], rep.layers[2]
    assert conv.mac == T * N * 4 * 2 * 3 * 8 and conv.ac == 0
    assert fc.mac == 0 and fc.dense == T * N * 16 * 5
    costs = EnergyCosts()
    neuron_pj = per.shift * 32 * costs.shift_pj + per.add * 32 * costs.add_pj
    assert rep.energy_uj("neuron") == pytest.approx(neuron_pj / 1e6)
    assert rep.energy_uj() == pytest.approx(rep.energy_uj("neuron") + rep.energy_uj("synapse"))
    assert rep.total("mac") == conv.mac
    assert rep.total("shift", "neuron", per_sample=True) == per.shift * 32
    assert rep.energy_uj(per_sample=False) == pytest.approx(rep.energy_uj() * N)
    with pytest.raises(ValueError, match="op: expected one of"):
        rep.total("flop")


def test_batch_norm_counts_only_when_not_fused():
    net = small_net()
    x = torch.rand(4, 1, 2, 8)
    fused = count_energy(net, x)
    unfused = count_energy(net, x, fuse_bn=False)
    assert unfused.total("mac") > fused.total("mac")
    assert "1" in [r.name for r in unfused.layers]


def test_unknown_neurons_are_listed_not_counted():
    rep = count_energy(small_net(sj_neuron.LIFNode(step_mode="m")), torch.rand(4, 1, 2, 8))
    assert rep.uncounted == ["2 (LIFNode)"]
    assert rep.total("add", "neuron") == 0
    md = rep.to_markdown()
    assert "Not counted (no rule): 2 (LIFNode)" in md
    assert "| **total neuron layers** (1 not counted) |" in md
    assert "| **total** (1 not counted) |" in md and "**total synapse layers** |" in md


def test_markdown_and_dict():
    rep = count_energy(small_net(), torch.rand(4, 2, 2, 8), costs=EnergyCosts(shift_pj=1.0))
    md = rep.to_markdown()
    assert md.splitlines()[0].startswith("| layer | type | kind | neurons")
    assert "| **total neuron layers** |" in md and "| 2 | CPSN | neuron |" in md
    assert "not counted" not in md.lower()
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["costs_pj"]["shift_pj"] == 1.0 and d["batch_size"] == 2
    assert d["energy_uj"]["total"] == pytest.approx(rep.energy_uj())


def test_batch_size_is_checked():
    with pytest.raises(ValueError, match="batch_size"):
        count_energy(small_net(), torch.rand(4, 1, 2, 8), batch_size=0)


def test_ops_outside_leaf_modules_are_kept():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3))
            self.sn = CPSN(4, k=2)

        def forward(self, x):
            return self.sn(x @ self.w.t())

    rep = count_energy(Net(), torch.randn(5, 2, 3))
    assert rep.layers[-1].name == "(other ops)" and rep.layers[-1].mac == 5 * 2 * 3 * 4
    assert rep.total("mac") == 5 * 2 * 3 * 4


@pytest.mark.parametrize("kind", ["neurons", "Neuron", "synapses"])
def test_an_unknown_kind_is_refused_not_counted_as_zero(kind):
    rep = count_energy(small_net(), torch.rand(4, 1, 2, 8))
    with pytest.raises(ValueError, match=r"kind: expected one of \('neuron', 'synapse', None\)"):
        rep.total("shift", kind)
    with pytest.raises(ValueError, match="kind: expected one of"):
        rep.energy_uj(kind)


@pytest.mark.parametrize("batch_size", [2.5, True, "2"])
def test_batch_size_must_be_an_integer(batch_size):
    with pytest.raises(ValueError, match="batch_size: expected an integer >= 1"):
        count_energy(small_net(), torch.rand(4, 2, 2, 8), batch_size=batch_size)


def test_a_single_step_model_counts_its_batch_from_dim_0():
    # [N, C] into a step-mode model: dim 1 is the channels, and the per-sample figures and the
    # neuron count were divided by them
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), CPSN(4, k=2, step_mode="s")).eval()
    report = count_energy(net, torch.rand(5, 3))
    assert report.batch_size == 5
    assert report.neurons == 4
    multi = torch.nn.Sequential(torch.nn.Linear(3, 4), CPSN(4, k=2)).eval()
    assert count_energy(multi, torch.rand(6, 5, 3)).batch_size == 5  # [T, N, C]


def test_a_model_that_is_not_a_module_is_named():
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module to count, got int"):
        count_energy(3, torch.rand(4, 1, 2, 8))


class RepeatInTime(nn.Module):
    """Takes ``[N, C]`` samples and shows them to a multi-step network ``T`` times, as
    Spikformer and MS-ResNet do with images."""

    def __init__(self, net: nn.Module, T: int):
        super().__init__()
        self.net, self.T = net, T

    def forward(self, x):
        return self.net(x.unsqueeze(0).repeat(self.T, 1, 1))


@pytest.mark.parametrize("neuron", [lambda: CPSN(4, k=2),
                                    lambda: sj_neuron.LIFNode(step_mode="m")])
def test_a_model_that_repeats_its_input_in_time_counts_the_batch_its_neurons_see(neuron):
    # dim 1 of the [N, C] input is the channels: per-sample figures were divided by them
    net = RepeatInTime(nn.Sequential(layer.Linear(3, 4, step_mode="m"), neuron()), T=6).eval()
    report = count_energy(net, torch.rand(5, 3))
    assert report.batch_size == 5
    if isinstance(net.net[1], CPSN):
        assert report.neurons == 4


def test_neurons_that_see_different_batches_ask_for_batch_size():
    class TwoBatches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = CPSN(3, k=2), CPSN(3, k=2)

        def forward(self, x):
            return self.a(x), self.b(x[:, :2])

    with pytest.raises(ValueError, match=r"saw batches of different sizes \[2, 4\].*pass "
                                         "batch_size"):
        count_energy(TwoBatches(), torch.rand(6, 4, 3))
    assert count_energy(TwoBatches(), torch.rand(6, 4, 3), batch_size=4).batch_size == 4


def test_costs_must_be_energy_costs():
    with pytest.raises(TypeError, match=r"costs: expected an EnergyCosts, got dict; pass e.g. "
                                        r"EnergyCosts\(add_pj=0.1\)"):
        count_energy(small_net(), torch.rand(4, 1, 2, 8), costs={"add_pj": 0.1})


def test_an_unbatched_single_step_input_is_one_sample():
    net = nn.Sequential(nn.Linear(5, 4), sj_neuron.LIFNode(step_mode="s"))
    assert count_energy(net, torch.rand(5)).batch_size == 1
