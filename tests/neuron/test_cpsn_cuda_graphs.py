"""CUDA graphs (GPU only): a captured CPSN training step replays what the eager one computes,
and what a graph cannot replay (a step of step_mode='s', autoselect's timing) is refused while
capturing. The stand-in versions of the refusals run on every machine (test_autoselect.py,
test_cpsn_step.py)."""
from __future__ import annotations

import copy

import pytest
import torch
from spikingjelly.activation_based import functional

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.backends import clear_autoselect_cache
from spikingjelly_mulfree.backends.autoselect import ENV_VAR

pytestmark = pytest.mark.gpu

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _auto_times(monkeypatch):
    """'auto' as a user meets it: not forced to torch (as tests/neuron's conftest does), and
    with no choice cached by an earlier test, so a capture meets a new situation."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    clear_autoselect_cache()
    yield
    clear_autoselect_cache()


@pytest.mark.parametrize("backend", ["cupy", "auto"])
@pytest.mark.parametrize("threshold", ["bn", "learnable"])
def test_a_graphed_training_step_replays_the_eager_one(backend, threshold):
    """make_graphed_callables captures forward and backward once; each replay on new data gives
    the eager module's spikes, input gradient, parameter gradients and running statistics.
    (Gradients are set to None before each step, as zero_grad() does: a replayed backward hands
    out its static gradient buffers, which a later replay overwrites.)"""
    torch.manual_seed(0)
    eager = CPSN(16, k=4, dilation=2, threshold=threshold, init="uniform",
                 backend=backend).to(CUDA)
    graphed_module = copy.deepcopy(eager)
    sample = torch.randn(8, 4, 16, 5, device=CUDA, requires_grad=True)
    graphed = torch.cuda.make_graphed_callables(graphed_module, (sample,))
    eager.load_state_dict(graphed_module.state_dict())  # the warm-up steps moved the statistics
    for step in range(3):
        for p in (*eager.parameters(), *graphed_module.parameters()):
            p.grad = None
        x = torch.randn(8, 4, 16, 5, device=CUDA)
        g = torch.randn(8, 4, 16, 5, device=CUDA)
        xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
        outs = [eager(xs[0]), graphed(xs[1])]
        for out in outs:
            out.backward(g)
        torch.cuda.synchronize()
        torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=0, msg=f"spikes, step {step}")
        torch.testing.assert_close(xs[1].grad, xs[0].grad, msg=f"input gradient, step {step}")
        for (name, p), q in zip(eager.named_parameters(), graphed_module.parameters()):
            torch.testing.assert_close(q.grad, p.grad, msg=f"{name}.grad, step {step}")
        for (name, b), c in zip(eager.named_buffers(), graphed_module.buffers()):
            torch.testing.assert_close(c, b, rtol=0, atol=0, msg=f"{name}, step {step}")


def test_a_step_of_step_mode_s_is_refused_while_capturing():
    sn = CPSN(16, k=3, backend="cupy").to(CUDA).eval()
    functional.set_step_mode(sn, "s")
    x = torch.randn(4, 16, device=CUDA)
    with torch.no_grad():
        sn(x)  # the first step, eagerly
        graph = torch.cuda.CUDAGraph()
        with pytest.raises(RuntimeError, match="captured CUDA graph"):
            with torch.cuda.graph(graph):
                sn(x)


def test_autoselect_timing_is_refused_while_capturing():
    sn = CPSN(16, k=3, backend="auto").to(CUDA)
    x = torch.randn(6, 4, 16, 3, device=CUDA)
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="while a CUDA graph is captured"):
        with torch.cuda.graph(graph):
            sn(x)
