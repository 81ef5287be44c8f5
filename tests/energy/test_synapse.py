"""Synaptic counts: SpikingJelly's rules for real and binary inputs, ours for pooled spikes."""
import pytest
import torch
from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter
from torch import nn

from spikingjelly_mulfree.energy import dense_weight_uses, event_scale, synaptic_counters


def run(counters, module, x):
    with torch.no_grad(), DispatchCounterMode(counters):
        module(x)
    return [c.get_total() for c in counters]


def test_event_scale():
    assert event_scale(torch.tensor([0.0, 1.0, 1.0])) == 1
    assert event_scale(torch.tensor([True, False])) == 1
    assert event_scale(torch.tensor([0.0, 0.25, 0.75])) == 4
    assert event_scale(torch.tensor([0.0, 1 / 3, 2 / 3])) == 3
    assert event_scale(torch.tensor([0.123, 0.7])) is None
    assert event_scale(torch.tensor([-0.5, 0.5])) is None


@pytest.mark.parametrize("pool", [2, 4])
def test_pooled_spikes_into_linear_count_one_ac_per_spike_and_weight(pool):
    spikes = (torch.rand(6, pool * 5) < 0.3).float()
    pooled = nn.functional.avg_pool1d(spikes.unsqueeze(1), pool).squeeze(1)
    fc = nn.Linear(5, 7)
    mac, ac = run(list(synaptic_counters()), fc, pooled)
    assert mac == 0
    assert ac == int(spikes.sum()) * 7


def test_pooled_spikes_into_conv_equal_spikes_times_in_bounds_fanout():
    torch.manual_seed(1)
    spikes = (torch.rand(2, 3, 16) < 0.4).float()
    pooled = nn.functional.avg_pool1d(spikes, 2)
    conv = nn.Conv1d(3, 4, 3, padding=1, bias=False)
    mac, ac = run(list(synaptic_counters()), conv, pooled)
    counts = pooled * 2
    # each spike behind a pooled value reaches out_channels * (taps that stay in bounds)
    per_position = torch.tensor([2.0] + [3.0] * 6 + [2.0])
    assert mac == 0
    assert ac == int((counts.sum((0, 1)) * per_position).sum()) * 4


def test_real_and_binary_inputs_keep_spikingjellys_rules():
    conv = nn.Conv1d(3, 4, 3, padding=1)
    real = torch.randn(2, 3, 8)
    spikes = (torch.rand(2, 3, 8) < 0.5).float()
    for x in (real, spikes):
        ours = run(list(synaptic_counters()), conv, x)
        theirs = run([MACCounter(), SynOpCounter()], conv, x)
        assert ours == theirs
    assert run(list(synaptic_counters()), conv, real)[0] == 2 * 4 * 3 * 3 * 8


def test_ignored_modules_are_not_counted():
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).eval()
    x = torch.randn(4, 3)
    assert run(list(synaptic_counters([nn.BatchNorm1d])), net, x)[0] == 4 * 3 * 3
    assert run(list(synaptic_counters([nn.Linear, nn.BatchNorm1d])), net, x)[0] == 0


def test_dense_weight_uses():
    assert dense_weight_uses(nn.Linear(5, 2), torch.zeros(3, 5)) == 30
    assert dense_weight_uses(nn.Conv1d(2, 3, 3, padding=1), torch.zeros(1, 2, 4)) == 3 * 2 * 10
    with pytest.raises(TypeError, match="module: expected one of"):
        dense_weight_uses(nn.ReLU(), torch.zeros(1))
    # an input the layer does not take was counted (Linear: 3 * 6 * 2) or failed inside torch
    with pytest.raises(ValueError, match=r"x: expected \[\.\.\., in_features=5\] for Linear, "
                                         r"got \(3, 6\)"):
        dense_weight_uses(nn.Linear(5, 2), torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r"x: expected \[N, C_in=2, \*spatial\] \(1 spatial\) "
                                         r"for Conv1d, got \(2, 4\)"):
        dense_weight_uses(nn.Conv1d(2, 3, 3), torch.zeros(2, 4))
