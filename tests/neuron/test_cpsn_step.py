"""CPSN in step_mode='s': the in-place ring buffer of inference against the multi-step forward,
its state (reset, detach, shape checks, size), the switch to and from the training window, and
which path runs for which surrogate."""
from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based import surrogate as sj_surrogate

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.functional.charge import charge_reference
from spikingjelly_mulfree.kernels import launch_counts
from spikingjelly_mulfree.neuron import cpsn as cpsn_module

BACKENDS = ["torch", "cpu"]


def step_launches() -> int:
    return sum(v for name, v in launch_counts.items() if name.startswith("cpsn_step"))


def trained(k, d, threshold, mul_free, backend, C=3, dtype=torch.float64):
    """An eval-mode CPSN with non-trivial weights (and running statistics for 'bn')."""
    sn = CPSN(C, k=k, dilation=d, threshold=threshold, mul_free=mul_free, init="uniform",
              backend=backend).to(dtype)
    if threshold == "bn":
        with torch.no_grad():
            sn(torch.randn(6, 4, C, dtype=dtype) + 0.5)
    return sn.eval()


def multi_step(sn, x):
    """Spikes of the multi-step forward of the torch backend with the same parameters."""
    ref = CPSN(sn.channels, k=sn.k, dilation=sn.dilation, threshold=sn.v_threshold_fixed
               if sn.threshold_mode == "fixed" else sn.threshold_mode, mul_free=sn.mul_free,
               backend="torch").to(sn.weight.dtype)
    ref.load_state_dict(sn.state_dict())
    with torch.no_grad():
        return ref.eval()(x)


def step_through(sn, x):
    functional.set_step_mode(sn, "s")
    return torch.stack([sn(x[t]) for t in range(x.shape[0])])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mul_free", [True, False])
@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.3])
@pytest.mark.parametrize("trailing", [(), (4,), (2, 3)])
@pytest.mark.parametrize("k,d", [(1, 1), (2, 1), (3, 2), (4, 3)])
def test_no_grad_steps_equal_multi_step(backend, mul_free, threshold, trailing, k, d):
    T = 5  # shorter than the receptive field of (4, 3), equal to that of (3, 2)
    sn = trained(k, d, threshold, mul_free, backend)
    x = torch.randn(T, 2, 3, *trailing, dtype=torch.float64)
    before = step_launches()
    with torch.no_grad():
        steps = step_through(sn, x)
    assert torch.equal(steps, multi_step(sn, x))
    R = (k - 1) * d + 1
    assert sn.x_window.numel() == R * x[0].numel() and sn.x_window.dtype == torch.float64
    assert sn.x_window_pos == T % R
    assert step_launches() - before == (T if backend == "cpu" else 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_frozen_parameters_step_in_place_with_grad_mode_on(backend, monkeypatch):
    sn = trained(3, 2, "learnable", True, backend).requires_grad_(False)
    x = torch.randn(7, 2, 3, 4, dtype=torch.float64)
    monkeypatch.setattr(cpsn_module, "push_window", None)  # the window path would fail
    functional.set_step_mode(sn, "s")
    first = sn(x[0])
    ring = sn.x_window
    rest = [sn(x[t]) for t in range(1, 7)]
    assert sn.x_window is ring  # the same tensor, updated in place
    assert torch.equal(torch.stack([first, *rest]), multi_step(sn, x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_net_starts_each_sequence_from_zeros(backend):
    sn = trained(3, 1, 0.2, True, backend)
    a, b = torch.randn(2, 6, 2, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        step_through(sn, a)
        carried = step_through(sn, b)
        functional.reset_net(sn)
        assert sn.x_window is None and sn.x_window_pos is None
        fresh = step_through(sn, b)
    assert torch.equal(fresh, multi_step(sn, b))
    assert not torch.equal(carried, fresh)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_shape_without_reset_is_an_error(backend, grad):
    sn = trained(2, 1, "learnable", False, backend, dtype=torch.float32)
    functional.set_step_mode(sn, "s")
    with torch.set_grad_enabled(grad):
        sn(torch.randn(2, 3))
        with pytest.raises(ValueError, match="reset_net"):
            sn(torch.randn(4, 3))
        functional.reset_net(sn)
        assert sn(torch.randn(4, 3)).shape == (4, 3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_inputs_on_the_cpu_backend(dtype):
    sn = trained(3, 2, 0.3, True, "cpu", C=4, dtype=torch.float32)
    x = torch.randn(6, 3, 4, 5).to(dtype)
    before = step_launches()
    with torch.no_grad():
        steps = step_through(sn, x)
    assert steps.dtype == dtype and step_launches() - before == 6
    assert sn.x_window.dtype == torch.float32
    assert sn.x_window.numel() == 5 * x[0].numel()
    w, b = sn.effective_kernel()
    h = charge_reference(x.float().reshape(6, 3, 4, 5), w, b, 2)
    sure = h.abs() > 1e-4  # away from float rounding of the threshold
    assert torch.equal(steps.float()[sure], (h >= 0).float()[sure])


def test_state_is_not_in_the_state_dict():
    sn = trained(3, 1, "bn", True, "torch")
    with torch.no_grad():
        step_through(sn, torch.randn(4, 2, 3, dtype=torch.float64))
    assert sn.x_window is not None
    assert not any(key.startswith("x_window") for key in sn.state_dict())


@pytest.mark.parametrize("backend", BACKENDS)
def test_switching_between_grad_and_no_grad_steps_keeps_the_sequence(backend):
    sn = trained(3, 2, "learnable", False, backend)
    sn.train()  # a learnable threshold trains in 's' mode
    x = torch.randn(11, 2, 3, 2, dtype=torch.float64)
    grad_steps = {3, 4, 7}
    functional.set_step_mode(sn, "s")
    out = []
    for t in range(x.shape[0]):
        with torch.set_grad_enabled(t in grad_steps):
            out.append(sn(x[t]))
        assert (sn.x_window_pos is None) == (t in grad_steps)
    assert torch.equal(torch.stack(out).detach(), multi_step(sn, x))
    # the no-grad steps after a grad step wrote into a copy of its window, not into what its
    # backward reads
    sum(out[t].sum() for t in grad_steps).backward()
    assert sn.weight.grad is not None and sn.v_threshold.grad is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_detach_net_on_the_ring_keeps_the_state(backend):
    sn = trained(2, 2, 0.1, True, backend)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        first = step_through(sn, x[:3])
    functional.detach_net(sn)
    with torch.no_grad():
        rest = torch.stack([sn(x[t]) for t in range(3, 6)])
    assert torch.equal(torch.cat([first, rest]), multi_step(sn, x))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", [torch.channels_last, torch.channels_last_3d])
@pytest.mark.parametrize("trailing", [(4,), (2, 3)], ids=["[R,N,C,L]", "[R,N,C,H,W]"])
def test_a_memory_format_conversion_mid_sequence_keeps_the_state(backend, fmt, trailing):
    """``net.to(memory_format=...)`` while a sequence is under way: the state keeps its values
    and the sequence goes on (the 5-D state of a 2-D convolution's neuron refused
    ``channels_last``, the 4-D one of a 1-D convolution's refused ``channels_last_3d``:
    ``required rank ... tensor``), and ``detach_net`` still works on the converted state."""
    sn = trained(3, 2, 0.1, True, backend)
    x = torch.randn(6, 2, 3, *trailing, dtype=torch.float64)
    with torch.no_grad():
        first = step_through(sn, x[:3])
    sn.to(memory_format=fmt)
    functional.detach_net(sn)
    with torch.no_grad():
        rest = torch.stack([sn(x[t]) for t in range(3, 6)])
    assert torch.equal(torch.cat([first, rest]), multi_step(sn, x))
    sn.train()
    functional.reset_net(sn)
    x = x.requires_grad_()
    sn(x[0])
    sn.float().to(memory_format=fmt)
    assert sn.x_window.dtype == torch.float32 and sn.x_window.grad_fn is not None
    functional.detach_net(sn)
    assert not sn.x_window.requires_grad


@pytest.mark.parametrize("grad", [True, False], ids=["training window", "ring"])
def test_a_half_conversion_mid_sequence_keeps_the_float32_state(grad):
    """``.half()`` converts the state with the module; the next step takes it back to the
    accumulator dtype, float32, on both paths (the training window went on in float16)."""
    x = torch.randn(6, 2, 3, 4).half().float()  # values float16 holds exactly
    a = CPSN(3, k=3, threshold="learnable", step_mode="s", backend="torch")
    b = CPSN(3, k=3, threshold="learnable", step_mode="s", backend="torch").half()
    with torch.set_grad_enabled(grad):
        first = [a(x[t]) for t in range(3)]
        a.half()
        out_a = first + [a(x[t].half()) for t in range(3, 6)]
        out_b = [b(x[t].half()) for t in range(6)]
    assert a.x_window.dtype == torch.float32
    assert all(torch.equal(p.float(), q.float()) for p, q in zip(out_a, out_b))


def test_steps_under_inference_mode_then_no_grad():
    sn = trained(3, 1, 0.2, False, "torch")
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    functional.set_step_mode(sn, "s")
    with torch.inference_mode():
        first = [sn(x[t]) for t in range(3)]
    with torch.no_grad():
        rest = [sn(x[t]) for t in range(3, 6)]
    assert torch.equal(torch.stack(first + rest), multi_step(sn, x))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [
    lambda: sj_surrogate.ATan(spiking=False),
    lambda: sj_surrogate.MultiLevelSpikeCount(max_spike_count=3),
], ids=["ATan(spiking=False)", "MultiLevelSpikeCount"])
def test_a_surrogate_that_is_not_heaviside_gives_its_own_output(backend, make):
    sn = CPSN(3, k=3, threshold=-0.5, init="uniform", surrogate_function=make(),
              backend=backend).double().eval()
    x = 3 * torch.randn(5, 2, 3, dtype=torch.float64)
    before = step_launches()
    with torch.no_grad():
        steps = step_through(sn, x)
    functional.set_step_mode(sn, "m")
    with torch.no_grad():
        torch.testing.assert_close(steps, sn(x))
    assert not torch.all((steps == 0) | (steps == 1))
    assert sn.x_window_pos is None and step_launches() == before


def test_auto_steps_in_place_on_the_backend_it_selected(monkeypatch):
    from spikingjelly_mulfree.backends import autoselect_report, clear_autoselect_cache

    monkeypatch.delenv("SPIKINGJELLY_MULFREE_BACKEND")
    clear_autoselect_cache()
    sn = trained(4, 1, 0.3, True, "auto")
    x = torch.randn(6, 2, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        steps = step_through(sn, x)
    (choice,) = [c for c in autoselect_report().choices if c.op == "step_fire"]
    assert choice.chosen in ("torch", "cpu") and set(choice.times_s) == {"torch", "cpu"}
    assert torch.equal(steps, multi_step(sn, x))
    clear_autoselect_cache()


@pytest.mark.parametrize("grad", [False, True])
def test_steps_refuse_a_cuda_graph_capture(monkeypatch, grad):
    """The window between steps lives on the host (a ring slot, or a new window per step), so a
    captured graph would replay one window: a step during a capture raises, before it touches
    the state. (No GPU here: the capture check is a stand-in that says yes.)"""
    sn = trained(3, 1, 0.3, False, "cpu")
    functional.set_step_mode(sn, "s")
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=grad)
    with torch.set_grad_enabled(grad):
        sn(x[0])
        state = sn.x_window
        monkeypatch.setattr(cpsn_module, "capturing", lambda t: True)
        with pytest.raises(RuntimeError, match=r"step_mode='s'.*captured CUDA graph.*Run the "
                                               r"steps eagerly"):
            sn(x[1])
    assert sn.x_window is state
