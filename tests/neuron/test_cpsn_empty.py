"""Empty inputs (a batch, a sequence or a spatial extent of size 0) give empty spikes, as
SpikingJelly's PSN, SlidingPSN and LIF and torch's BatchNorm do, on every backend."""
from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import neuron

from spikingjelly_mulfree import CPSN

SHAPES = [(4, 0, 3), (0, 2, 3), (4, 2, 3, 0)]


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize("shape", SHAPES)
def test_an_empty_sequence_gives_empty_spikes_and_zero_gradients(backend, shape):
    sn = CPSN(3, k=2, backend=backend)
    running = sn.running_mean.clone(), sn.running_var.clone()
    x = torch.zeros(shape, requires_grad=True)
    spikes = sn(x)
    assert spikes.shape == shape and spikes.dtype == x.dtype
    spikes.sum().backward()
    assert x.grad.shape == shape
    # every parameter gets a (zero) gradient, so a data-parallel reduction sees them all
    for name, p in sn.named_parameters():
        assert p.grad is not None and torch.equal(p.grad, torch.zeros_like(p)), name
    assert torch.equal(sn.running_mean, running[0]) and torch.equal(sn.running_var, running[1])


def test_the_same_as_spikingjelly_psn():
    x = torch.zeros(4, 0, 3)
    assert neuron.PSN(4)(x).shape == CPSN(3, k=2)(x).shape == (4, 0, 3)


def test_a_lazy_neuron_learns_its_channels_from_an_empty_batch():
    sn = CPSN(k=2)
    assert sn(torch.zeros(4, 0, 5)).shape == (4, 0, 5)
    assert sn.channels == 5 and sn.weight.shape == (5, 2)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_an_empty_step_leaves_the_state_alone(backend):
    sn = CPSN(3, k=2, step_mode="s", backend=backend).eval()
    with torch.no_grad():
        assert sn(torch.zeros(0, 3, dtype=torch.float16)).dtype == torch.float16
        assert sn.x_window is None
        assert sn(torch.ones(2, 3)).shape == (2, 3)  # the sequence starts now
        with pytest.raises(ValueError, match="like the previous step"):
            sn(torch.zeros(0, 3))  # mid-sequence, the batch cannot change
