"""Neuron-layer counts from module hooks, for every supported neuron and step mode."""
import pytest
import torch
from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based.op_counter import ModuleCounterMode
from torch import nn

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.energy import (
    NeuronOpCounter, masked_psn_ops, neuron_layer_ops, psn_ops, sliding_ops, tap_count,
)


def count(net, *xs):
    counter = NeuronOpCounter()
    with torch.no_grad(), ModuleCounterMode([counter], model=net):
        for x in xs:
            net(x)
    return counter.get_counts()


@pytest.mark.parametrize("T,k,d", [(8, 3, 1), (8, 3, 2), (2, 5, 1), (1, 1, 1), (9, 4, 3)])
@pytest.mark.parametrize("mul_free", [True, False])
def test_cpsn_multi_step(T, k, d, mul_free):
    net = nn.Sequential(CPSN(3, k=k, dilation=d, mul_free=mul_free)).eval()
    got = count(net, torch.randn(T, 2, 3, 5))["Global"]
    per = sliding_ops(T, k, d, mul_free=mul_free)
    n = 2 * 3 * 5
    assert got == {"mul": per.mul * n, "add": per.add * n, "shift": per.shift * n}
    assert (got["shift"] > 0) == mul_free and (got["mul"] > 0) != mul_free


def test_sj_parallel_neurons_multi_step():
    T, k = 6, 3
    x = torch.randn(T, 2, 4)
    assert count(nn.Sequential(sj_neuron.PSN(T)), x)["Global"]["mul"] == psn_ops(T).mul * 8
    sliding = count(nn.Sequential(sj_neuron.SlidingPSN(k, step_mode="m")), x)["Global"]
    assert sliding["mul"] == sliding_ops(T, k).mul * 8 and sliding["add"] == sliding_ops(T, k).add * 8
    masked = sj_neuron.MaskedPSN(k, T, lambda_init=1.0, step_mode="m")
    assert count(nn.Sequential(masked), x)["Global"]["mul"] == masked_psn_ops(T, k).mul * 8
    masked.lambda_ = 0.5
    assert count(nn.Sequential(masked), x)["Global"]["mul"] == T * T * 8


def test_streaming_steps():
    T, k = 5, 3
    cpsn = CPSN(2, k=k, step_mode="s").eval()
    sliding = sj_neuron.SlidingPSN(k, step_mode="s")
    masked = sj_neuron.MaskedPSN(k, T, lambda_init=1.0, step_mode="s")
    xs = [torch.randn(1, 2) for _ in range(T)]
    got = {}
    for name, mod in (("cpsn", cpsn), ("sliding", sliding), ("masked", masked)):
        sj_functional.reset_net(mod)
        got[name] = count(nn.Sequential(mod), *xs)["Global"]
    assert got["cpsn"]["shift"] == T * k * 2  # the full window every step
    assert got["sliding"]["mul"] == tap_count(T, k) * 2  # the queue ramps up
    assert got["masked"]["mul"] == tap_count(T, k) * 2
    assert got["masked"]["add"] == (tap_count(T, k) + T) * 2


def test_counts_do_not_depend_on_what_the_forward_computes(monkeypatch):
    """A backend that runs no torch conv at all (here: zeros) gives the same counts."""
    x = torch.randn(7, 2, 3)
    net = nn.Sequential(CPSN(3, k=4)).eval()
    ref = count(net, x)

    def fake_forward(self, inputs, states, **kwargs):
        return (torch.zeros_like(inputs[0]),), states

    monkeypatch.setattr(CPSN, "multi_step_functional_forward", fake_forward)
    assert count(net, x) == ref
    assert ref["Global"]["shift"] == tap_count(7, 4) * 6


def test_integer_export_counts_like_cpsn():
    from spikingjelly_mulfree.integer import quantize_input, to_integer

    sn = CPSN(4, k=3, dilation=2, threshold=0.5).eval()
    isn = to_integer(sn, frac_bits=6, dtype=torch.int16)
    x = torch.rand(9, 2, 4)
    ref = count(nn.Sequential(sn), x)
    assert count(nn.Sequential(isn), quantize_input(x, 6, torch.int16)) == ref
    assert ref["Global"]["shift"] == tap_count(9, 3, 2) * 8 and ref["Global"]["mul"] == 0


def test_scopes_follow_the_module_tree():
    net = nn.Sequential(nn.Sequential(CPSN(2, k=2)), CPSN(2, k=2)).eval()
    counts = count(net, torch.randn(4, 1, 2))
    assert counts["Sequential.0"]["shift"] == counts["Sequential.1"]["shift"] == tap_count(4, 2) * 2
    assert counts["Global"]["shift"] == 2 * counts["Sequential.1"]["shift"]


def test_extra_rules_and_type_errors():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    counter = NeuronOpCounter(extra_rules={Custom: lambda m, x: psn_ops(x.shape[0]).scale(1)})
    net = nn.Sequential(Custom())
    with ModuleCounterMode([counter], model=net):
        net(torch.zeros(3, 1))
    assert counter.get_counts()["Global"]["mul"] == 9
    with pytest.raises(TypeError, match="module: expected one of"):
        neuron_layer_ops(nn.ReLU(), torch.zeros(2))


@pytest.mark.gpu
def test_every_backend_on_cuda_counts_like_the_cpu_reference():
    from spikingjelly_mulfree import backends

    x = torch.randn(12, 2, 8, 3)
    ref = count(nn.Sequential(CPSN(8, k=5, dilation=2)).eval(), x)
    for name in backends.backend_names():
        net = nn.Sequential(CPSN(8, k=5, dilation=2, backend=name)).eval().cuda()
        assert count(net, x.cuda()) == ref, name
