"""CPSN against an independent loop reference, gradchecks and the straight-through property."""
import itertools

import pytest
import torch
from spikingjelly.activation_based import surrogate
from torch.func import functional_call

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.functional import charge_reference, quantize_pow2
from spikingjelly_mulfree.functional import threshold as threshold_fn


def heaviside(h):
    return (h >= 0).to(h.dtype)


def reference_spikes(sn: CPSN, x: torch.Tensor, training: bool) -> torch.Tensor:
    """Spikes from the paper's equations, written without the module's code paths."""
    x4 = x.reshape(x.shape[0], x.shape[1], x.shape[2], -1).double()
    w = sn.weight.detach().double()
    if sn.threshold_mode == "bn":
        if training:
            h0 = charge_reference(x4, w, None, sn.dilation)
            mean, var = h0.mean(dim=(0, 1, 3)), h0.var(dim=(0, 1, 3), unbiased=False)
        else:
            mean, var = sn.running_mean.double(), sn.running_var.double()
        scale = sn.bn_weight.detach().double() / torch.sqrt(var + sn.eps)
        w, b = w * scale[:, None], sn.bn_bias.detach().double() - mean * scale
    elif sn.threshold_mode == "learnable":
        b = -sn.v_threshold.detach().double()
    else:
        b = torch.full((w.shape[0],), -sn.v_threshold_fixed, dtype=torch.float64)
    if sn.mul_free:
        w = quantize_pow2(w, *sn.exp_range)
    return heaviside(charge_reference(x4, w, b, sn.dilation)).reshape(x.shape)


SHAPES = [(1, 2, 3), (5, 3, 5, 4), (9, 2, 3, 2, 3), (17, 1, 3, 2, 1, 2)]
PARAMS = list(itertools.product(SHAPES, [1, 2, 5], [1, 3]))


@pytest.mark.parametrize("shape,k,d", PARAMS)
@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.3])
def test_module_matches_loop_reference(shape, k, d, threshold):
    C = shape[2]
    sn = CPSN(C, k=k, dilation=d, threshold=threshold, init="uniform").double()
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(sn(x), reference_spikes(sn, x, training=True), rtol=0, atol=0)
    sn.eval()
    torch.testing.assert_close(sn(x), reference_spikes(sn, x, training=False), rtol=0, atol=0)


def test_short_sequence_shorter_than_receptive_field():
    sn = CPSN(3, k=8, dilation=4, threshold=0.1, init="uniform").double()
    x = torch.randn(3, 2, 3, dtype=torch.float64)
    assert sn.receptive_field == 29
    torch.testing.assert_close(sn(x), reference_spikes(sn, x, True), rtol=0, atol=0)


def _params_of(sn):
    return {n: p for n, p in sn.named_parameters()}


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.5])
def test_gradcheck_float_weights(threshold):
    """mul_free=False, smooth primitive surrogate: autograd equals finite differences."""
    sn = CPSN(2, k=3, dilation=2, mul_free=False, threshold=threshold, init="uniform",
              surrogate_function=surrogate.ATan(spiking=False)).double()
    x = torch.randn(6, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    names = list(_params_of(sn))
    params = tuple(p.detach().clone().requires_grad_() for p in _params_of(sn).values())

    def f(x, *ps):
        return functional_call(sn, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.5])
def test_gradcheck_mul_free_with_frozen_quantisation_offset(threshold, monkeypatch):
    """mul_free=True: the STE gradient equals the exact gradient of the network in which the
    quantisation offset Q(w) - w is frozen at its current value."""
    sn = CPSN(2, k=3, dilation=1, mul_free=True, threshold=threshold, init="uniform",
              surrogate_function=surrogate.ATan(spiking=False), backend="torch").double()
    x = torch.randn(6, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    out = sn(x)
    grads = torch.autograd.grad(out.sum(), [x, *sn.parameters()])

    captured = {}

    def capture(w, *exp_range):
        captured["delta"] = (quantize_pow2(w, *exp_range) - w).detach()
        return quantize_pow2(w, *exp_range)

    monkeypatch.setattr(threshold_fn, "quantize_pow2", capture)
    sn(x)
    delta = captured["delta"]
    monkeypatch.setattr(threshold_fn, "quantize_pow2", lambda w, *exp_range: w + delta)
    frozen = sn(x)
    torch.testing.assert_close(frozen, out)
    frozen_grads = torch.autograd.grad(frozen.sum(), [x, *sn.parameters()])
    for a, b in zip(grads, frozen_grads):
        torch.testing.assert_close(a, b)
    names = [n for n, _ in sn.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in sn.parameters())
    assert torch.autograd.gradcheck(
        lambda x, *ps: functional_call(sn, dict(zip(names, ps)), (x,)), (x, *params))


@pytest.mark.parametrize("threshold", ["learnable", 1.0])
def test_latent_weight_gradient_equals_effective_weight_gradient(threshold):
    sn = CPSN(4, k=5, threshold=threshold, init="uniform").double()
    x = torch.randn(12, 3, 4, dtype=torch.float64)
    sn(x).sum().backward()
    w_eff, b_eff = sn.effective_kernel()
    w_leaf = w_eff.clone().requires_grad_()
    h = charge_reference(x.unsqueeze(-1), w_leaf, b_eff, 1)
    sn.surrogate_function(h).sum().backward()
    torch.testing.assert_close(sn.weight.grad, w_leaf.grad)


@pytest.mark.parametrize("threshold", ["bn", "learnable", 1.0])
@pytest.mark.parametrize("zero", ["all", "some"])
def test_no_nan_gradient_at_zero_weights(threshold, zero):
    sn = CPSN(3, k=4, threshold=threshold, init="uniform")
    with torch.no_grad():
        if zero == "all":
            sn.weight.zero_()
        else:
            sn.weight[:, ::2] = 0.0
    x = torch.randn(8, 2, 3, 5, requires_grad=True)
    sn(x).sum().backward()
    for g in [x.grad, *(p.grad for p in sn.parameters())]:
        assert g is not None and torch.isfinite(g).all()


def test_bn_eval_equals_unfused_batchnorm_of_charge():
    sn = CPSN(3, k=3, mul_free=False, init="uniform").double()
    for _ in range(3):
        sn(torch.randn(7, 4, 3, 2, dtype=torch.float64) * 2 + 1)
    with torch.no_grad():
        sn.bn_weight.copy_(torch.tensor([0.5, 1.5, 2.0]))
        sn.bn_bias.copy_(torch.tensor([-1.0, 0.2, -0.4]))
    sn.eval()
    x = torch.randn(7, 4, 3, 2, dtype=torch.float64)
    bn = torch.nn.BatchNorm1d(3, eps=sn.eps).double().eval()
    bn.load_state_dict({"weight": sn.bn_weight, "bias": sn.bn_bias,
                        "running_mean": sn.running_mean, "running_var": sn.running_var,
                        "num_batches_tracked": torch.tensor(3)})
    h0 = charge_reference(x, sn.weight.detach(), None, 1)
    h = bn(h0.permute(0, 1, 3, 2).reshape(-1, 3)).view(7, 4, 2, 3).permute(0, 1, 3, 2)
    assert torch.equal(sn(x), heaviside(h))


def test_training_updates_running_stats_like_batchnorm():
    sn = CPSN(3, k=2, mul_free=False, init="uniform").double()
    x = torch.randn(5, 4, 3, 6, dtype=torch.float64) + 3
    sn(x)
    h0 = charge_reference(x, sn.weight.detach(), None, 1)
    bn = torch.nn.BatchNorm1d(3).double()
    bn(h0.permute(0, 1, 3, 2).reshape(-1, 3))
    torch.testing.assert_close(sn.running_mean, bn.running_mean)
    torch.testing.assert_close(sn.running_var, bn.running_var)


def test_effective_kernel_is_powers_of_two_in_range():
    sn = CPSN(16, k=6, init="uniform", exp_range=(-6, 3))
    sn(torch.randn(10, 4, 16))
    sn.eval()
    w, b = sn.effective_kernel()
    nz = w[w != 0].abs()
    assert torch.equal(torch.log2(nz), torch.log2(nz).round())
    assert torch.log2(nz).min() >= -6 and torch.log2(nz).max() <= 3
    x = torch.randn(10, 4, 16)
    expected = heaviside(charge_reference(x.unsqueeze(-1).double(), w.double(), b.double(), 1))
    assert torch.equal(sn(x), expected.squeeze(-1).float())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mul_free", [True, False])
def test_effective_kernel_of_a_low_precision_neuron_is_the_one_applied(dtype, mul_free):
    """A float16 / bfloat16 neuron's forward folds its threshold in float32; so does
    effective_kernel (it folded in the parameters' dtype: a bias off by up to 3e-3 in float16,
    and spikes that disagreed with the neuron's own)."""
    torch.manual_seed(0)
    sn = CPSN(64, k=4, mul_free=mul_free, init="uniform", backend="torch")
    with torch.no_grad():
        sn.bn_weight.uniform_(0.5, 1.5), sn.bn_bias.uniform_(-1, 0)
        sn.running_mean.normal_(), sn.running_var.uniform_(0.1, 3)
    sn = sn.to(dtype).eval()
    w, b = sn.effective_kernel()
    assert w.dtype == b.dtype == torch.float32
    x = torch.randn(50, 8, 64)
    with torch.no_grad():
        spikes = sn(x)
    h = charge_reference(x.unsqueeze(-1).double(), w.double(), b.double(), 1).squeeze(-1)
    assert torch.equal(spikes, (h >= 0).float())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_under_autocast(dtype):
    sn = CPSN(4, k=3)
    x = torch.randn(6, 2, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=dtype):
        s = sn(x.to(dtype))
    assert s.dtype == dtype
    s.float().sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(sn.weight.grad).all()
    ref = sn(x.to(dtype).float())
    assert (s.float() != ref).float().mean() < 0.01
