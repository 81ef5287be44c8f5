"""backend='cupy' on a real GPU against backend='torch' (skipped without CUDA)."""
from __future__ import annotations

import pytest
import torch
from _kernel_cases import OUT_TOL, reference_charge

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.kernels import launch_counts, ops
from spikingjelly_mulfree.kernels.step import RingState, step_fire

pytestmark = pytest.mark.gpu


@pytest.fixture
def cupy():
    return pytest.importorskip("cupy")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("k,d,T", [(1, 1, 5), (4, 2, 3), (16, 1, 32)])
def test_ops_on_gpu_match_host(cupy, dtype, k, d, T):
    x = torch.randn(T, 3, 5, 7).to(dtype)
    w, b = torch.randn(5, k), torch.randn(5)
    g = torch.randn(x.shape).to(dtype)
    xc, wc, bc, gc = (t.cuda() for t in (x, w, b, g))
    before = launch_counts["cpsn_forward_" + ops.SUFFIX[dtype] + "_mul"]
    h = ops.charge(xc, wc, bc, d).cpu()
    assert launch_counts["cpsn_forward_" + ops.SUFFIX[dtype] + "_mul"] == before + 1
    torch.testing.assert_close(h, reference_charge(x, w, b, d), rtol=1e-5, atol=1e-5)
    got = ops.backward(xc, wc, bc, d, ops.ATAN, grad_s=gc, alpha=2.0)
    want = ops.backward(x, w, b, d, ops.ATAN, grad_s=g, alpha=2.0)
    torch.testing.assert_close(got[0].cpu().float(), want[0].float(), rtol=OUT_TOL[dtype][0],
                               atol=OUT_TOL[dtype][1])
    for a, e in zip(got[1:], want[1:]):
        torch.testing.assert_close(a.cpu(), e, rtol=1e-4, atol=1e-4)
    m, v = ops.moments(xc, wc, d)
    torch.testing.assert_close(m.cpu(), ops.moments(x, w, d)[0], rtol=1e-4, atol=1e-4)


def test_layer_on_gpu_matches_torch_backend(cupy):
    torch.manual_seed(0)
    ref = CPSN(8, k=4, backend="torch").cuda()
    fast = CPSN(8, k=4, backend="cupy").cuda()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(16, 4, 8, 5, device="cuda")
    xr, xf = x.clone().requires_grad_(), x.clone().requires_grad_()
    yr, yf = ref(xr), fast(xf)
    assert (yr != yf).float().mean() < 1e-3
    yr.sum().backward()
    yf.sum().backward()
    torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-3, atol=1e-3)


def test_runs_on_a_side_stream(cupy):
    x = torch.randn(8, 2, 3, 4, device="cuda")
    w, b = torch.randn(3, 2, device="cuda"), torch.randn(3, device="cuda")
    expected = ops.charge(x, w, b, 1)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        h = ops.charge(x, w, b, 1)
    torch.cuda.current_stream().wait_stream(stream)
    torch.testing.assert_close(h, expected)


def test_step_on_gpu(cupy):
    x = torch.randn(6, 2, 3, device="cuda")
    w, b = torch.randn(3, 3, device="cuda"), torch.randn(3, device="cuda")
    state = RingState.zeros(x[0], 3, 2)
    spikes = torch.stack([step_fire(x[t], state, w, b, 2) for t in range(6)])
    expected = (reference_charge(x.unsqueeze(-1), w, b, 2).squeeze(-1) >= 0).float()
    assert (spikes != expected).float().mean() < 0.05


@pytest.mark.parametrize("mul_free", [False, True])
def test_cpsn_single_step_inference_on_gpu_equals_multi_step(cupy, mul_free):
    sn = CPSN(3, k=3, dilation=2, threshold=0.3, mul_free=mul_free, init="uniform",
              backend="cupy").double().cuda().eval()
    x = torch.randn(7, 2, 3, 4, dtype=torch.float64, device="cuda")
    with torch.no_grad():
        multi = sn(x)
        sn.step_mode = "s"
        before = sum(v for n, v in launch_counts.items() if n.startswith("cpsn_step"))
        steps = torch.stack([sn(x[t]) for t in range(7)])
    assert sum(v for n, v in launch_counts.items() if n.startswith("cpsn_step")) == before + 7
    assert sn.x_window.is_cuda and sn.x_window.numel() == 5 * x[0].numel()
    assert torch.equal(steps, multi)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fold_on_gpu_matches_host(cupy, dtype):
    """The device's own sqrt, division and bit casts give the host build's effective kernel."""
    from spikingjelly_mulfree.kernels.fold import fold_kernel

    C, k = 130, 5
    w = torch.randn(C, k, dtype=dtype) * 3
    bn = (torch.randn(C, dtype=dtype), torch.rand(C, dtype=dtype), torch.rand(C, dtype=dtype),
          torch.randn(C, dtype=dtype))
    leaves = [t.requires_grad_() for t in (w, *bn)]
    gpu = [t.detach().cuda().requires_grad_() for t in leaves]
    gw, gb = torch.randn(C, k, dtype=dtype), torch.randn(C, dtype=dtype)
    outs = []
    for ts in (leaves, gpu):
        wf, bf = fold_kernel(ts[0], (*ts[1:], 1e-5), (-24, 8))
        loss = (wf * gw.to(wf.device)).sum() + (bf * gb.to(bf.device)).sum()
        outs.append((wf, bf, *torch.autograd.grad(loss, ts)))
    assert torch.equal(outs[1][0].cpu(), outs[0][0].detach())  # no multiply-add to contract
    eps = torch.finfo(dtype).eps
    for host_t, dev_t in zip(outs[0][1:], outs[1][1:]):
        torch.testing.assert_close(dev_t.cpu(), host_t.detach(), rtol=8 * eps, atol=8 * eps)


def test_cupy_shift_gives_cupys_results_bit_for_bit(cupy):
    """The exponent-add kernels ('cupy-shift') and the multiplying ones ('cupy') agree to the
    bit on the device: one tap through the slow path (zeros, subnormals, overflow, infinities),
    and a layer's spikes and gradients on inputs whose products are normal (a sum of subnormal
    products may round apart: the multiply-add rounds once, the exponent add twice)."""
    tiny = torch.finfo(torch.float32).tiny
    edges = torch.tensor([0.0, -0.0, tiny, tiny / 8, -3e38, 3e38, float("inf"), 1.5, -2.25])
    x = torch.cat([edges, torch.randn(40)]).view(-1, 1, 1, 1).expand(-1, 2, 3, 4).contiguous()
    w = torch.tensor([[0.25], [-8.0], [2.0 ** -20]])
    xc, wc = x.cuda(), w.cuda()
    assert torch.equal(ops.charge(xc, wc, None, 1, mul_free=True),
                       ops.charge(xc, wc, None, 1, mul_free=False))
    torch.manual_seed(0)
    ref = CPSN(6, k=4, dilation=2, backend="cupy").cuda()
    shifting = CPSN(6, k=4, dilation=2, backend="cupy-shift").cuda()
    shifting.load_state_dict(ref.state_dict())
    xs = torch.randn(16, 4, 6, 5, device="cuda")
    xr, xf = xs.clone().requires_grad_(), xs.clone().requires_grad_()
    yr, yf = ref(xr), shifting(xf)
    assert torch.equal(yr, yf)
    (yr * torch.arange(yr.numel(), device="cuda").view_as(yr)).sum().backward()
    (yf * torch.arange(yf.numel(), device="cuda").view_as(yf)).sum().backward()
    assert torch.equal(xr.grad, xf.grad) and torch.equal(ref.weight.grad, shifting.weight.grad)
