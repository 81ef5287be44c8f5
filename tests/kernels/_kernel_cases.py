"""Helpers shared by the kernel tests: tolerances, inputs and torch references."""
from __future__ import annotations

import torch

from spikingjelly_mulfree.functional.charge import charge_reference

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]

# Per input dtype: (rtol, atol) of a result in the accumulator type (H, dW, db, moments),
# and of a result stored in the input dtype (dX).
ACC_TOL = {torch.float16: (1e-5, 1e-5), torch.bfloat16: (1e-5, 1e-5),
           torch.float32: (1e-5, 1e-5), torch.float64: (1e-12, 1e-12)}
OUT_TOL = {torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1.6e-2),
           torch.float32: (1e-5, 1e-5), torch.float64: (1e-12, 1e-12)}
# Half-width of the band around H = 0 where float rounding may decide a spike.
TIE = {torch.float16: 1e-4, torch.bfloat16: 1e-4, torch.float32: 1e-4, torch.float64: 1e-9}


def acc_of(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def make_input(T, N, C, S, dtype, contiguous=True):
    """``[T, N, C, S]`` input; non-contiguous ones are a transposed view of ``[N, T, C, S]``."""
    if contiguous:
        return torch.randn(T, N, C, S).to(dtype)
    return torch.randn(N, T, C, S).to(dtype).transpose(0, 1)


def reference_charge(x, w, b, d):
    """H in the accumulator type from the same (rounded) input."""
    acc = acc_of(x.dtype)
    return charge_reference(x.to(acc), w.to(acc), None if b is None else b.to(acc), d)


def reference_grads(x, w, b, d, grad_h_fn):
    """(dX, dW, db) of ``sum(grad_h_fn(H) * H)`` with ``grad_h_fn`` detached: the chain rule
    through the charge for a given dL/dH."""
    acc = acc_of(x.dtype)
    xr = x.detach().to(acc).requires_grad_()
    wr = w.detach().to(acc).requires_grad_()
    br = b.detach().to(acc).requires_grad_()
    h = charge_reference(xr, wr, br, d)
    (grad_h_fn(h.detach()) * h).sum().backward()
    return xr.grad, wr.grad, br.grad


def assert_close(actual, expected, tol):
    rtol, atol = tol
    torch.testing.assert_close(actual.to(expected.dtype), expected, rtol=rtol, atol=atol)


def assert_spikes(spikes, h_ref, dtype):
    """Spikes equal (H >= 0) except where |H| is within float rounding of the threshold."""
    assert spikes.dtype == dtype
    expected = (h_ref >= 0).to(torch.float64)
    sure = h_ref.abs() > TIE[dtype]
    assert torch.equal(spikes.to(torch.float64)[sure], expected[sure])
    assert sure.float().mean() > 0.9
