"""The custom ops: schema/fake/autograd checks (``torch.library.opcheck``), gradients through
autograd against the torch reference, and ``torch.compile`` of a CPSN network on the host
build without graph breaks."""
from __future__ import annotations

import pytest
import torch
from _kernel_cases import make_input, reference_charge
from spikingjelly.activation_based import surrogate as sj_surrogate

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.kernels import launch_counts
from spikingjelly_mulfree.kernels.ops import ATAN, RATIONAL, SIGMOID

OPS = torch.ops.spikingjelly_mulfree


def _args_charge_fire(dtype):
    x = make_input(6, 2, 3, 2, dtype).requires_grad_()
    w = torch.randn(3, 3, dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    return (x, w.requires_grad_(), torch.randn(3, dtype=w.dtype).requires_grad_(), 2, ATAN,
            2.0, False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_opcheck_charge_fire(host, dtype):
    torch.library.opcheck(OPS.charge_fire, _args_charge_fire(dtype))


def test_opcheck_charge_and_moments(host):
    x = make_input(5, 2, 3, 1, torch.float32).requires_grad_()
    w = torch.randn(3, 2, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    torch.library.opcheck(OPS.charge, (x, w, b, 3, False))
    torch.library.opcheck(OPS.moments, (x, w, 1))


def test_gradcheck_charge_and_moments_float64(host):
    x = make_input(5, 2, 3, 2, torch.float64).requires_grad_()
    w = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: OPS.charge(x, w, b, 2, False), (x, w, b))
    assert torch.autograd.gradcheck(lambda x, w: tuple(OPS.moments(x, w, 2)), (x, w))


@pytest.mark.parametrize("sg", [sj_surrogate.ATan(alpha=2.0), sj_surrogate.Sigmoid(alpha=3.0),
                                "rational"])
def test_charge_fire_op_matches_surrogate_autograd(host, sg):
    from spikingjelly_mulfree import Rational

    sg = Rational(alpha=10.0) if sg == "rational" else sg
    mode = {sj_surrogate.ATan: ATAN, sj_surrogate.Sigmoid: SIGMOID, Rational: RATIONAL}[type(sg)]
    x = make_input(9, 3, 5, 2, torch.float64).requires_grad_()
    w = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(x.shape, dtype=torch.float64)
    s = OPS.charge_fire(x, w, b, 2, mode, float(sg.alpha), False)
    grads = torch.autograd.grad((s * g).sum(), (x, w, b))
    s_ref = sg(reference_charge(x, w, b, 2))
    grads_ref = torch.autograd.grad((s_ref * g).sum(), (x, w, b))
    assert torch.equal(s, s_ref)
    for a, e in zip(grads, grads_ref):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)


def test_compile_cpsn_network_without_graph_breaks(host):
    net = torch.nn.Sequential(
        CPSN(6, k=3, backend="cpu"),
        CPSN(6, k=2, dilation=2, backend="cpu", surrogate_function=sj_surrogate.Erf()),
        CPSN(6, k=2, backend="cpu", threshold="learnable"),
    )
    x = torch.randn(10, 4, 6, requires_grad=True)
    explanation = torch._dynamo.explain(net)(x)
    assert explanation.graph_break_count == 0
    y_eager = net(x)
    (g_eager,) = torch.autograd.grad(y_eager.sum(), x)
    before = sum(v for n, v in launch_counts.items() if n.startswith("cpsn_backward"))
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    y = compiled(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(y, y_eager)
    torch.testing.assert_close(g, g_eager)
    assert sum(v for n, v in launch_counts.items() if n.startswith("cpsn_backward")) > before


def _one_graph_for_every_length(backend: str, monkeypatch) -> None:
    """``dynamic=True`` made the power-of-two quantizer's float constant a symbolic input that
    its autograd forward could not capture (a Dynamo AssertionError); the torch backend's
    moments, taken in time blocks for inputs over ``BLOCK_ELEMENTS``, are one block when
    compiled (a loop over the blocks fixed T in the graph)."""
    from spikingjelly_mulfree.functional import lag_moments

    monkeypatch.setattr(lag_moments, "BLOCK_ELEMENTS", 20)
    net = torch.nn.Sequential(CPSN(6, k=3, backend=backend), CPSN(6, k=2, backend=backend),
                              CPSN(6, k=2, backend=backend, threshold="bn"))
    compiled = torch.compile(net, fullgraph=True, dynamic=True, backend="aot_eager")
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    for T in (10, 13):
        x = torch.randn(T, 3, 6, requires_grad=True)
        y = compiled(x)
        (g,) = torch.autograd.grad(y.sum(), x)
        y_eager = net(x)
        assert torch.equal(y, y_eager)
        torch.testing.assert_close(g, torch.autograd.grad(y_eager.sum(), x)[0])
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1


def test_compile_with_dynamic_shapes_traces_one_graph_for_every_length(host, monkeypatch):
    _one_graph_for_every_length("cpu", monkeypatch)


def test_compile_with_dynamic_shapes_traces_one_graph_for_every_length_torch(monkeypatch):
    """The same network on the torch backend, which runs no host kernel (so once, not per host
    layout)."""
    _one_graph_for_every_length("torch", monkeypatch)


def test_compiled_training_keeps_eager_running_statistics(host):
    """Compiled, the running statistics are updated by torch's lerp; eager, by the
    ``cpsn_running_stats`` kernel, which rounds as lerp does."""
    import copy

    eager = CPSN(5, k=3, backend="cpu", threshold="bn")
    traced = copy.deepcopy(eager)
    compiled = torch.compile(traced, fullgraph=True, backend="aot_eager")
    for seed in range(3):
        x = torch.randn(7, 4, 5, 3, generator=torch.Generator().manual_seed(seed)) * 3 + 1
        assert torch.equal(compiled(x), eager(x))
    assert torch.equal(traced.running_mean, eager.running_mean)
    assert torch.equal(traced.running_var, eager.running_var)


def test_compile_inference_steps_of_the_kernel_backend(host):
    """Compiled inference steps take the time-ordered window (the ring's slot is a Python int
    the compiler would specialise on): one graph for the first step, one for the rest, and the
    spikes of the eager multi-step forward."""
    sn = CPSN(4, k=3, dilation=2, backend="cpu", step_mode="s").eval()
    x = torch.randn(7, 3, 4, 2)
    compiled = torch.compile(sn, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        steps = torch.stack([compiled(x_t) for x_t in x])
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] <= 2
        sn.reset()
        sn.step_mode = "m"
        assert torch.equal(steps, sn(x))
