"""backend='cpu' (the host build) and backend='cupy' (same Python path) against
backend='torch': whole CPSN layers, every threshold mode, fused and generic surrogates, and the
errors when a backend cannot run."""
from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import surrogate as sj_surrogate

from spikingjelly_mulfree import CPSN, Rational
from spikingjelly_mulfree.backends import get_backend
from spikingjelly_mulfree.backends.cupy_backend import CupyBackend, surrogate_mode
from spikingjelly_mulfree.kernels import launch_counts


def _pair(**kw):
    torch.manual_seed(1)
    ref = CPSN(**kw, backend="torch").double()
    fast = CPSN(**kw, backend="cpu").double()
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def _grads(module, x):
    x = x.clone().requires_grad_()
    y = module(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(3)).to(y.dtype)
    params = [p for p in module.parameters()]
    grads = torch.autograd.grad((y * g).sum(), [x, *params])
    return y, grads


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.5])
@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "rational", "erf"])
@pytest.mark.parametrize("shape,k,d", [((12, 3, 5), 4, 1), ((7, 2, 5, 3, 2), 3, 3),
                                       ((1, 4, 5, 2), 2, 1)])
def test_layer_matches_torch_backend(host, threshold, surrogate, shape, k, d):
    sg = {"atan": sj_surrogate.ATan(), "sigmoid": sj_surrogate.Sigmoid(),
          "rational": Rational(), "erf": sj_surrogate.Erf()}[surrogate]
    ref, fast = _pair(channels=5, k=k, dilation=d, threshold=threshold, surrogate_function=sg,
                      init="uniform")
    x = torch.randn(shape, dtype=torch.float64)
    name = "cpsn_forward_f64_mul"
    before = launch_counts[name]
    y_ref, g_ref = _grads(ref, x)
    y, g = _grads(fast, x)
    assert launch_counts[name] > before
    assert torch.equal(y, y_ref)
    for a, e in zip(g, g_ref):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-9)
    if threshold == "bn":
        torch.testing.assert_close(fast.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
        fast.eval(), ref.eval()
        assert torch.equal(fast(x), ref(x))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_layer_low_precision_inputs(host, dtype):
    ref, fast = _pair(channels=4, k=3)
    ref.float(), fast.float()
    x = torch.randn(9, 2, 4, 3).to(dtype)
    y_ref, g_ref = _grads(ref, x)
    y, g = _grads(fast, x)
    assert y.dtype == dtype
    assert (y != y_ref).float().mean() < 0.01  # only near-ties differ
    rtol = {torch.float16: 2e-2, torch.bfloat16: 6e-2, torch.float32: 1e-4}[dtype]
    torch.testing.assert_close(g[0].float(), g_ref[0].float(), rtol=rtol, atol=rtol)


def test_non_contiguous_input(host):
    ref, fast = _pair(channels=3, k=2)
    x = torch.randn(4, 6, 3, dtype=torch.float64).transpose(0, 1)
    assert not x.is_contiguous()
    y_ref, g_ref = _grads(ref, x)
    y, g = _grads(fast, x)
    assert torch.equal(y, y_ref)
    torch.testing.assert_close(g[0], g_ref[0])


def test_surrogate_mode():
    assert surrogate_mode(sj_surrogate.ATan(spiking=False)) is None
    assert surrogate_mode(sj_surrogate.PiecewiseQuadratic()) is None
    assert surrogate_mode(Rational()) is not None


def test_cupy_backend_refuses_cpu_tensors():
    with pytest.raises(RuntimeError, match="runs on cuda tensors, but x is on cpu"):
        get_backend("cupy", torch.zeros(2, 1, 1, 1))


def test_cupy_shift_is_registered_and_refuses_cpu_tensors():
    from spikingjelly_mulfree.backends import AUTO_BACKEND

    assert not get_backend("cpu", torch.zeros(2, 1, 1, 1)).use_shift
    timed = AUTO_BACKEND._candidate_map(None)
    assert "cupy" in timed and "cupy-shift" not in timed  # by name only: the same kernels
    with pytest.raises(RuntimeError, match="backend='cupy-shift' cannot run .* runs on cuda "
                       "tensors, but x is on cpu"):
        get_backend("cupy-shift", torch.zeros(2, 1, 1, 1))


@pytest.mark.parametrize("threshold", ["bn", 0.5])
def test_exponent_add_backend_path_equals_the_multiplying_one(host, monkeypatch, threshold):
    """The Python path of 'cupy-shift' (use_shift=True), driven through the host build: the
    exponent-add kernels run, and spikes, gradients and statistics equal those of 'cpu', which
    multiplies, bit for bit (normal inputs: every product exact)."""
    from spikingjelly_mulfree import backends
    from spikingjelly_mulfree.backends.cupy_backend import KernelBackend

    monkeypatch.setitem(backends._REGISTRY, "cpu-shift",
                        KernelBackend("cpu-shift", "cpu", use_shift=True))
    torch.manual_seed(2)
    ref = CPSN(5, k=4, dilation=2, threshold=threshold, backend="cpu")
    shifting = CPSN(5, k=4, dilation=2, threshold=threshold, backend="cpu-shift")
    shifting.load_state_dict(ref.state_dict())
    x = torch.randn(12, 3, 5, 2)
    before = launch_counts["cpsn_forward_f32_shift"], launch_counts["cpsn_backward_f32_shift"]
    y_ref, g_ref = _grads(ref, x)
    y, g = _grads(shifting, x)
    assert launch_counts["cpsn_forward_f32_shift"] > before[0]
    assert launch_counts["cpsn_backward_f32_shift"] > before[1]
    assert torch.equal(y, y_ref)
    assert all(torch.equal(a, e) for a, e in zip(g, g_ref))
    if threshold == "bn":
        assert torch.equal(shifting.running_var, ref.running_var)


def test_cpu_backend_refuses_other_devices():
    with pytest.raises(RuntimeError, match="runs on cpu tensors, but x is on meta"):
        get_backend("cpu", torch.zeros(2, 1, 1, 1, device="meta"))


def test_missing_cupy_names_the_install_command(monkeypatch):
    import builtins

    import spikingjelly_mulfree.kernels.cuda as cuda

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    with pytest.raises(ImportError, match="pip install cupy-cuda12x") as info:
        cuda.import_cupy()
    assert "cupy-cuda13x" in str(info.value)
    backend = CupyBackend()
    backend._has_cupy = False
    reason = backend.unavailable_reason(torch.zeros(1, device="meta").expand(2))
    assert reason is not None and "cuda tensors" in reason
    monkeypatch.setattr(torch.Tensor, "device", property(lambda self: torch.device("cuda", 0)))
    assert "pip install cupy-cuda12x" in backend.unavailable_reason(torch.zeros(2))
    shifting = CupyBackend("cupy-shift", use_shift=True)
    shifting._has_cupy = False
    assert shifting.unavailable_reason(torch.zeros(2)).startswith(
        "backend='cupy-shift' needs CuPy: pip install cupy-cuda12x")


def test_bn_training_shares_one_input_gradient_pass(host, monkeypatch):
    """In eager BN training the moments' backward receives the fire op's dL/dH (one dX pass)."""
    from spikingjelly_mulfree.kernels import ops

    seen = []
    real = ops.backward

    def spy(*args, **kwargs):
        if args[4] == ops.MOMENTS:  # the moments' backward pass
            seen.append(kwargs.get("extra") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(ops, "backward", spy)
    ref, fast = _pair(channels=5, k=3)
    x = torch.randn(8, 2, 5, 3, dtype=torch.float64)
    y_ref, g_ref = _grads(ref, x)
    y, g = _grads(fast, x)
    assert seen == [True]
    for a, e in zip(g, g_ref):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-9)


def test_kernel_independent_of_moments_falls_back(host):
    """A make_kernel that detaches the moments gets the unfused path, gradients intact."""
    backend = get_backend("cpu", torch.zeros(1, 1, 1, 1))
    x = torch.randn(6, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(3, 2, dtype=torch.float64, requires_grad=True)
    b = -torch.ones(3, dtype=torch.float64)

    def make_kernel(stats, fold):
        return w * 1.0, b + 0.0 * stats[0].detach()

    s, _ = backend.run_layer(x, w, 1, make_kernel, True, sj_surrogate.ATan(), False)
    (gx,) = torch.autograd.grad(s.sum(), x)
    x2 = x.detach().clone().requires_grad_()
    s2 = backend.charge_fire(x2, w, b, 1, sj_surrogate.ATan())
    (gx2,) = torch.autograd.grad(s2.sum(), x2)
    assert torch.equal(s, s2)
    torch.testing.assert_close(gx, gx2)


def test_unconsumed_link_raises(host):
    from spikingjelly_mulfree.kernels import fused

    x = torch.randn(4, 1, 2, 1, requires_grad=True)
    s = fused.LinkedFire.apply(x, torch.ones(2, 2), torch.zeros(2), 1, 1, 2.0, False,
                               fused.Link())
    with pytest.raises(RuntimeError, match="moments' backward did not run"):
        s.sum().backward()


def _nodes(t: torch.Tensor) -> set[str]:
    """Names of the autograd nodes ``t`` depends on."""
    names, stack, seen = set(), [t.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        stack.extend(n for n, _ in fn.next_functions)
    return names


@pytest.mark.parametrize("mul_free", [True, False])
@pytest.mark.parametrize("surrogate", [sj_surrogate.ATan(), sj_surrogate.Erf()])
def test_bn_training_step_is_one_autograd_node(host, surrogate, mul_free):
    """The standard BN fold (with or without the quantizer) runs moments, fold and fire as one
    node (fused or generic surrogate), with the torch backend's gradients."""
    ref, fast = _pair(channels=5, k=3, mul_free=mul_free, surrogate_function=surrogate)
    x = torch.randn(8, 2, 5, 3, dtype=torch.float64)
    before = launch_counts.copy()
    y, g = _grads(fast, x)
    nodes = _nodes(y)
    assert "BNLayerBackward" in nodes and not nodes & {"LinkedMomentsBackward",
                                                       "LinkedFireBackward", "_FoldBNBackward"}
    assert launch_counts["cpsn_fold_backward_f64"] == before["cpsn_fold_backward_f64"] + 1
    y_ref, g_ref = _grads(ref, x)
    assert torch.equal(y, y_ref)
    for a, e in zip(g, g_ref):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(fast.running_mean, ref.running_mean, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 2, 5, 3), (6, 2, 5), (6, 2, 5, 2, 2)])
def test_a_time_first_input_is_not_viewed_again(host, shape):
    """A [T, N, C, S] input reaches the layer's node as it is, and the spikes leave it so: a
    view of the same shape would add a node to every backward (~10 us of a short step). Other
    layouts are viewed as [T, N, C, S] and back."""
    layer = CPSN(5, k=3, backend="cpu")
    x = torch.randn(shape, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape
    views = {n for n in _nodes(y) if n.startswith(("View", "Reshape", "UnsafeView"))}
    if len(shape) == 4:
        assert type(y.grad_fn).__name__ == "BNLayerBackward" and not views
    else:
        assert views
    y.sum().backward()
    assert x.grad.shape == x.shape


def test_bn_training_with_wider_weights_than_input(host):
    """float64 parameters on a float32 input: the layer computes in float64, as the torch
    backend and the single step do (the input is cast up, not the taps down, which put the
    charges in float32 and made the multi-step spikes differ from the steps'), through the
    one-node layer; spikes equal, gradients as float64's, the input's in float32."""
    ref, fast = _pair(channels=4, k=3)
    x = torch.randn(9, 2, 4, 3)
    y_ref, g_ref = _grads(ref, x)
    y, g = _grads(fast, x)
    assert "BNLayerBackward" in _nodes(y)
    assert y.dtype == torch.float32 and torch.equal(y, y_ref)
    assert g[0].dtype == torch.float32
    for a, e in zip(g, g_ref):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-9)


def test_wider_weights_than_input_keep_the_step_and_the_sequence_equal(host):
    """A charge of -2**-30 (taps 1 and -(1 + 2**-30) on ones) is negative in float64 and 0 in
    float32: the multi-step forward of a float64 neuron on a float32 input must not fire
    where its steps do not."""
    from spikingjelly.activation_based import functional

    sn = CPSN(1, k=2, mul_free=False, threshold=0.0, backend="cpu").double().eval()
    with torch.no_grad():
        sn.weight.copy_(torch.tensor([[1.0, -(1 + 2**-30)]], dtype=torch.float64))
    x = torch.ones(2, 1, 1)
    with torch.no_grad():
        sequence = sn(x)
        functional.set_step_mode(sn, "s")
        steps = torch.stack([sn(x_t) for x_t in x])
    assert sequence.flatten().tolist() == steps.flatten().tolist() == [0.0, 0.0]


def test_the_kernels_refuse_float64_taps_on_a_narrower_input(host):
    """Rounding the taps to the input's float32 accumulator silently is what the neuron did;
    the ops now say so instead."""
    from spikingjelly_mulfree.kernels import ops

    x, w, b = torch.ones(2, 1, 1, 1), torch.ones(1, 2), torch.zeros(1)
    wide = {t: t.double() for t in (w, b)}
    for name, call in [
        ("weight", lambda: ops.charge_fire(x, wide[w], b, 1)),
        ("bias", lambda: ops.charge_fire(x, w, wide[b], 1)),
        ("extra", lambda: ops.backward(x, w, None, 1, ops.GIVEN, grad_h=x,
                                       extra=(x, wide[w]))),
        ("moments", lambda: ops.backward(x, w, None, 1, ops.MOMENTS,
                                         moments=(b, wide[b], b))),
    ]:
        with pytest.raises(TypeError, match=f"{name}: float64 values on a torch.float32 input "
                                            f"would be rounded to float32"):
            call()


class _UnfusedATan(sj_surrogate.ATan):
    """ATan through SpikingJelly's own autograd (not recognised as a fused surrogate)."""


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.5])
@pytest.mark.parametrize("T,k", [(6, 3), (40, 2)])  # the torch backend's GEMM and tap paths
def test_second_order_gradients(host, threshold, T, k):
    """Gradients of gradients: the torch backend's fused ATan backward differentiates again
    and equals SpikingJelly's ATan through autograd; the kernel backends raise at the first
    backward with create_graph=True (before, the fused BN layer let the second-order gradient
    come back as None)."""
    x = torch.randn(T, 2, 3, dtype=torch.float64, requires_grad=True)
    second = []
    for sg in (sj_surrogate.ATan(), _UnfusedATan()):
        ref, fast = _pair(channels=3, k=k, threshold=threshold, mul_free=False,
                          surrogate_function=sg)
        (gx,) = torch.autograd.grad((ref(x) ** 2).sum(), x, create_graph=True)
        second.append(torch.autograd.grad(gx.pow(2).sum(), [x, ref.weight]))
        with pytest.raises(RuntimeError, match="create_graph=True.*backend='torch'"):
            torch.autograd.grad((fast(x) ** 2).sum(), x, create_graph=True)
    assert second[0][0].abs().sum() > 0
    for fused, generic in zip(*second):
        torch.testing.assert_close(fused, generic)
