"""backend='auto': times the available backends once per situation and keeps the fastest."""
from __future__ import annotations

import time
import warnings

import pytest
import torch

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree import backends
from spikingjelly_mulfree.backends import autoselect
from spikingjelly_mulfree.backends.autoselect import ENV_VAR, AutoBackend
from spikingjelly_mulfree.backends.torch_backend import TorchBackend


class Fake:
    """Torch results, after ``delay`` seconds per call; counts its calls."""

    def __init__(self, name: str, delay: float = 0.0, reason: str | None = None,
                 fail: bool = False):
        self.name, self.delay, self.reason, self.fail = name, delay, reason, fail
        self.calls = 0
        self._torch = TorchBackend()

    def unavailable_reason(self, x):
        return self.reason

    def charge_fire(self, x, weight, bias, dilation, surrogate_function, mul_free=False):
        self.calls += 1
        if self.fail:
            raise RuntimeError("fake kernel crashed")
        time.sleep(self.delay)
        return self._torch.charge_fire(x, weight, bias, dilation, surrogate_function, mul_free)

    def conv_moments(self, x, weight, dilation):
        self.calls += 1
        time.sleep(self.delay)
        return self._torch.conv_moments(x, weight, dilation)


class StepFake(Fake):
    """A fake that also steps in place (through the torch backend)."""

    def step_fire(self, x, ring, pos, weight, bias, dilation, mul_free=False):
        self.calls += 1
        return self._torch.step_fire(x, ring, pos, weight, bias, dilation, mul_free)


def real_registry(test):
    """Let ``test`` see every registered backend (the others see only 'torch' and their fakes)."""
    test.real_registry = True
    return test


@pytest.fixture(autouse=True)
def _fresh(monkeypatch, request):
    """A clean cache and no forcing; unless a test is decorated with :func:`real_registry`, only
    'torch' and the fakes a test adds are candidates, so outcomes do not depend on the machine."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    if not getattr(request.function, "real_registry", False):
        for name in list(backends._REGISTRY):
            if name not in ("torch", "auto"):
                monkeypatch.delitem(backends._REGISTRY, name)
    autoselect.clear_autoselect_cache()
    yield
    autoselect.clear_autoselect_cache()


def _layer(backend="auto", threshold=0.5, seed=0):
    torch.manual_seed(seed)
    return CPSN(channels=4, k=3, dilation=2, threshold=threshold, init="uniform", backend=backend)


def _fwd_bwd(sn, x):
    x = x.clone().requires_grad_(True)
    out = sn(x)
    (out * torch.arange(out.numel()).view(out.shape)).sum().backward()
    return out, x.grad, sn.weight.grad


def test_registered_under_auto_and_is_the_default():
    assert "auto" in backends.backend_names()
    assert CPSN(channels=2).backend == "auto"


def test_a_slow_fake_is_timed_but_not_chosen_and_the_choice_is_cached(monkeypatch):
    slow = Fake("fake_slow", delay=0.05)
    monkeypatch.setitem(backends._REGISTRY, "fake_slow", slow)
    sn, x = _layer(), torch.randn(6, 2, 4, 3)
    sn(x)
    choices = backends.autoselect_report().choices
    assert len(choices) == 1 and choices[0].chosen == "torch"
    assert set(choices[0].times_s) == {"torch", "fake_slow"}
    assert choices[0].times_s["fake_slow"] > choices[0].times_s["torch"]
    assert slow.calls == 2 * autoselect.DEFAULT_M + 1
    sn(x)
    assert slow.calls == 2 * autoselect.DEFAULT_M + 1
    assert len(backends.autoselect_report().choices) == 1
    assert backends.autoselect_report().overhead_s >= 0.05 * (2 * autoselect.DEFAULT_M + 1)


def test_a_fast_fake_is_chosen_over_a_slowed_torch(monkeypatch):
    fast = Fake("fake_fast")
    monkeypatch.setitem(backends._REGISTRY, "torch", Fake("torch", delay=0.05))
    monkeypatch.setitem(backends._REGISTRY, "fake_fast", fast)
    sn, x = _layer(), torch.randn(5, 2, 4)
    _fwd_bwd(sn, x)
    assert backends.autoselect_report().choices[0].chosen == "fake_fast"
    calls = fast.calls
    _fwd_bwd(sn, x)
    assert fast.calls == calls + 1


def test_auto_results_equal_the_torch_backend(monkeypatch):
    for threshold in (0.5, "learnable", "bn"):
        x = torch.randn(7, 3, 4, 2)
        auto, ref = _layer("auto", threshold), _layer("torch", threshold)
        for got, want in zip(_fwd_bwd(auto, x), _fwd_bwd(ref, x)):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        if threshold == "bn":
            torch.testing.assert_close(auto.running_var, ref.running_var, rtol=0, atol=0)
    situations = [c.situation for c in backends.autoselect_report().choices]
    # a float and a learnable threshold run the same work; bn in training adds the moments
    assert len(situations) == 2


def test_situations_are_cached_separately():
    sn = _layer()
    sn(torch.randn(6, 2, 4))
    with torch.no_grad():
        sn(torch.randn(6, 2, 4))
    sn(torch.randn(6, 2, 4, 5))
    sn.eval()
    sn(torch.randn(6, 2, 4, 5))
    assert len(backends.autoselect_report().choices) == 3


@pytest.mark.parametrize("threshold", ["learnable", "bn"])
def test_a_training_threshold_alone_is_timed_with_its_backward(threshold):
    sn = _layer(threshold=threshold)
    sn.weight.requires_grad_(False)
    sn(torch.randn(6, 2, 4))
    frozen = _layer(threshold=0.5)
    frozen.weight.requires_grad_(False)
    frozen(torch.randn(6, 2, 4))
    trains, not_trained = (c.situation for c in backends.autoselect_report().choices)
    assert "backward=True" in trains and "backward=False" in not_trained


def test_a_non_contiguous_input_is_its_own_situation_and_says_so():
    sn = _layer()
    x = torch.randn(2, 4, 6, 3)
    sn(x.permute(2, 0, 1, 3).contiguous())
    sn(x.permute(2, 0, 1, 3))
    contiguous, strided = (c.situation for c in backends.autoselect_report().choices)
    assert "non-contiguous" in strided and "non-contiguous" not in contiguous


def test_environment_variable_forces_a_backend(monkeypatch):
    slow = Fake("fake_slow", delay=0.01)
    monkeypatch.setitem(backends._REGISTRY, "fake_slow", slow)
    monkeypatch.setenv(ENV_VAR, "fake_slow")
    out = _layer()(torch.randn(4, 2, 4))
    choice = backends.autoselect_report().choices[0]
    assert choice.forced and choice.chosen == "fake_slow" and choice.times_s == {}
    assert slow.calls == 1 and out.shape == (4, 2, 4)


def test_a_forced_backend_compiles_into_one_graph(monkeypatch):
    """A forced choice is recorded inside the trace: the timing's graph break (a function
    ``torch.compile`` does not trace) is not taken, so ``fullgraph=True`` compiles."""
    monkeypatch.setenv(ENV_VAR, "torch")
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    sn = _layer(threshold="bn")
    x = torch.randn(6, 2, 4, requires_grad=True)
    out = torch.compile(sn, fullgraph=True, backend="aot_eager")(x)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
    (choice,) = backends.autoselect_report().choices
    assert choice.forced and choice.chosen == "torch"
    assert torch.equal(out, _layer("torch", threshold="bn")(x))


def test_environment_variable_errors(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "no_such_backend")
    with pytest.raises(ValueError, match=f"{ENV_VAR}.*'torch'"):
        _layer()(torch.randn(4, 2, 4))
    monkeypatch.setitem(backends._REGISTRY, "fake_off", Fake("fake_off", reason="needs a GPU"))
    monkeypatch.setenv(ENV_VAR, "fake_off")
    with pytest.raises(RuntimeError, match="needs a GPU"):
        _layer()(torch.randn(4, 2, 4))
    assert _layer("torch")(torch.randn(4, 2, 4)).shape == (4, 2, 4)


def test_unavailable_and_failing_backends_are_reported_not_chosen(monkeypatch):
    monkeypatch.setitem(backends._REGISTRY, "fake_off", Fake("fake_off", reason="needs a GPU"))
    monkeypatch.setitem(backends._REGISTRY, "fake_bad", Fake("fake_bad", fail=True))
    with pytest.warns(RuntimeWarning, match="fake_bad"):
        _layer()(torch.randn(4, 2, 4))
    choice = backends.autoselect_report().choices[0]
    assert choice.chosen == "torch"
    assert choice.skipped["fake_off"] == "needs a GPU" and "crashed" in choice.skipped["fake_bad"]
    assert "fake_bad" in str(backends.autoselect_report())


class _Failing(torch.nn.Module):
    def forward(self, h):
        raise ValueError("this surrogate: bad input")


def test_when_every_backend_fails_the_reference_error_is_raised_as_it_is(monkeypatch):
    monkeypatch.setitem(backends._REGISTRY, "fake_bad", Fake("fake_bad", fail=True))
    with pytest.warns(RuntimeWarning, match="failed while being timed"):
        with pytest.raises(ValueError, match="this surrogate: bad input") as info:
            sn = _layer()
            sn.surrogate_function = _Failing()
            sn(torch.randn(4, 2, 4))
    assert "fake_bad" in "".join(info.value.__notes__)


def test_a_single_runnable_backend_is_taken_without_timing():
    _layer()(torch.randn(4, 2, 4))
    choice = backends.autoselect_report().choices[0]
    assert choice.chosen == "torch" and choice.times_s == {} and choice.overhead_s == 0.0


def test_timing_leaves_parameter_gradients_untouched(monkeypatch):
    monkeypatch.setitem(backends._REGISTRY, "fake_other", Fake("fake_other"))
    for threshold in ("learnable", "bn"):
        sn = _layer(threshold=threshold)
        x = torch.randn(5, 2, 4, 1, requires_grad=True)
        sn(x)
        assert backends.autoselect_report().choices[-1].times_s
        assert x.grad is None
        assert all(p.grad is None for p in sn.parameters())


def test_invalid_m():
    with pytest.raises(ValueError, match="m: expected"):
        AutoBackend(m=0)


@real_registry
def test_with_every_registered_backend_auto_matches_torch():
    x = torch.randn(9, 3, 4, 5)
    auto, ref = _layer("auto", "bn"), _layer("torch", "bn")
    (s_a, gx_a, gw_a), (s_t, gx_t, gw_t) = _fwd_bwd(auto, x), _fwd_bwd(ref, x)
    choice = backends.autoselect_report().choices[0]
    assert choice.chosen in backends.backend_names()
    assert (s_a != s_t).float().mean() <= 1e-3
    # float32 sums over ~100 terms of size ~1 in different orders: about 1e-5 apart
    torch.testing.assert_close(gx_a, gx_t, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gw_a, gw_t, rtol=1e-4, atol=1e-4)


def test_step_fire_is_timed_among_the_backends_that_can_step(monkeypatch):
    stepping = StepFake("fake_step")
    monkeypatch.setitem(backends._REGISTRY, "fake_step", stepping)
    monkeypatch.setitem(backends._REGISTRY, "fake_plain", Fake("fake_plain"))  # cannot step
    x, w, b = torch.randn(2, 4, 3), torch.randn(4, 2), torch.randn(4)
    ring = torch.randn(3, 2, 4, 3)
    expected_ring = ring.clone()
    expected_ring[1] = x
    expected = TorchBackend().step_fire(x, ring.clone(), 1, w, b, 2)
    auto = backends.get_backend("auto", x)
    assert torch.equal(auto.step_fire(x, ring, 1, w, b, 2), expected)
    assert torch.equal(ring, expected_ring)  # timing repeated the same step: one step in all
    (choice,) = backends.autoselect_report().choices
    assert choice.op == "step_fire" and set(choice.times_s) == {"torch", "fake_step"}
    monkeypatch.setenv(ENV_VAR, "fake_plain")
    with pytest.raises(RuntimeError, match="fake_plain.*no step_fire"):
        auto.step_fire(x, ring, 2, w, b, 2)


def test_a_kernel_backend_of_the_device_that_cannot_run_warns_once(monkeypatch):
    """'auto' on a device whose kernel backend cannot run (its library missing, say) says so,
    once, with the reason and the backend it uses; another device's kernels stay quiet."""
    here = Fake("kernels_here", reason="fastlib missing: pip install fastlib")
    here.device_type = "cpu"
    elsewhere = Fake("kernels_elsewhere", reason="runs on cuda tensors")
    elsewhere.device_type = "cuda"
    monkeypatch.setitem(backends._REGISTRY, "kernels_here", here)
    monkeypatch.setitem(backends._REGISTRY, "kernels_elsewhere", elsewhere)
    sn = _layer()
    with pytest.warns(RuntimeWarning, match=r"'kernels_here'.*fastlib missing: pip install "
                                            r"fastlib.*'torch' instead") as record:
        sn(torch.randn(5, 2, 4))
    assert not any("kernels_elsewhere" in str(w.message) for w in record)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sn(torch.randn(7, 2, 4))  # a new situation: timed again, not warned again
    assert here.calls == 0 and elsewhere.calls == 0


class Scripted(Fake):
    """A fake whose n-th call sleeps ``delays[n]`` and logs its name into ``log``."""

    def __init__(self, name, delays, log):
        super().__init__(name)
        self.delays, self.log = delays, log

    def charge_fire(self, x, weight, bias, dilation, surrogate_function, mul_free=False):
        self.delay = self.delays[min(self.calls, len(self.delays) - 1)]
        self.log.append(self.name)
        return super().charge_fire(x, weight, bias, dilation, surrogate_function, mul_free)


def test_candidates_are_timed_round_robin_and_judged_by_their_fastest_recent_run(monkeypatch):
    """One slow run among the kept ones (another job's, say) does not decide: 'jittery' has a
    mean of 30 ms over its last two runs against 'steady''s 10 ms, but the faster best run."""
    log: list[str] = []
    jittery = Scripted("jittery", [0.0, 0.0, 0.0, 0.06, 0.0], log)
    steady = Scripted("steady", [0.01], log)
    monkeypatch.delitem(backends._REGISTRY, "torch")
    monkeypatch.setitem(backends._REGISTRY, "jittery", jittery)
    monkeypatch.setitem(backends._REGISTRY, "steady", steady)
    sn = _layer(threshold=0.5)
    with torch.no_grad():
        sn(torch.randn(5, 2, 4))
    choice = autoselect.autoselect_report().choices[-1]
    assert choice.chosen == "jittery", choice
    timed = log[: 2 * 5]
    assert timed == ["jittery", "steady"] * 5 or timed == ["steady", "jittery"] * 5


def test_a_new_situation_during_a_cuda_graph_capture_is_refused(monkeypatch):
    """Timing synchronises the device, which a CUDA graph capture forbids: a new situation met
    while capturing raises with what to do, and one chosen before (a warm-up step) runs. (No
    GPU here: the capture check is a stand-in that says yes.)"""
    monkeypatch.setitem(backends._REGISTRY, "fake", Fake("fake"))
    sn, x = _layer(), torch.randn(6, 2, 4)
    sn(x)  # the warm-up step: chosen outside the capture
    monkeypatch.setattr(autoselect.base, "capturing", lambda t: True)
    assert sn(x).shape == x.shape
    with pytest.raises(RuntimeError, match=r"cannot happen while a CUDA graph is captured: run "
                                           r"the step once before capturing"):
        sn(torch.randn(7, 2, 4))
    assert len(backends.autoselect_report().choices) == 1


def test_a_backend_auto_does_not_time_is_left_out_unless_forced(monkeypatch):
    """A backend with timed_by_auto = False (another way to the same kernels, like
    'cupy-shift') is never timed nor chosen by 'auto', but the environment variable may force
    it (it refused one: 'expected one of' the timed backends)."""
    fast = Fake("fake_alias")
    fast.timed_by_auto = False
    monkeypatch.setitem(backends._REGISTRY, "fake_alias", fast)
    monkeypatch.setitem(backends._REGISTRY, "torch", Fake("torch", delay=0.01))
    sn, x = _layer(), torch.randn(6, 2, 4)
    sn(x)
    assert fast.calls == 0 and backends.autoselect_report().choices[-1].chosen == "torch"
    monkeypatch.setenv(ENV_VAR, "fake_alias")
    sn(x)
    assert fast.calls == 1 and backends.autoselect_report().choices[-1].forced
