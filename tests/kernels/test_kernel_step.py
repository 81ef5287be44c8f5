"""The single-step ring-buffer kernel against the functional window step."""
from __future__ import annotations

import pytest
import torch
from _kernel_cases import DTYPES, acc_of

from spikingjelly_mulfree.functional.step import push_window, step_charge
from spikingjelly_mulfree.kernels import launch_counts
from spikingjelly_mulfree.kernels.step import RingState, step_fire


@pytest.mark.parametrize("mul_free", [False, True])
@pytest.mark.parametrize("shape", [(2, 3), (3, 5, 2, 2)])
@pytest.mark.parametrize("k,d", [(1, 1), (2, 1), (4, 3)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_step_matches_window_step(host, dtype, k, d, shape, mul_free):
    T, C = 11, shape[1]
    acc = acc_of(dtype)
    x = torch.randn(T, *shape).to(dtype)
    if mul_free:
        w = torch.pow(2.0, torch.randint(-3, 2, (C, k)).float()) * torch.sign(torch.randn(C, k))
    else:
        w = torch.randn(C, k)
    b = torch.randn(C)
    R = (k - 1) * d + 1
    state = RingState.zeros(x[0], k, d)
    window = None
    before = launch_counts.copy()
    for t in range(T):
        h = torch.empty(shape, dtype=acc)
        s = step_fire(x[t], state, w, b, d, mul_free=mul_free, charge=h)
        window = push_window(window, x[t].to(acc), R)
        h_ref = step_charge(window, w.to(acc), b.to(acc), d)
        torch.testing.assert_close(h, h_ref, rtol=1e-6, atol=1e-6)
        assert s.dtype == dtype
        assert torch.equal(s.to(acc), (h >= 0).to(acc))
    assert state.pos == T % R
    assert sum(v - before[n] for n, v in launch_counts.items() if n.startswith("cpsn_step")) == T


def test_step_state_mismatch_is_an_error(host):
    state = RingState.zeros(torch.zeros(2, 3), k=3, dilation=1)
    with pytest.raises(ValueError, match=r"state: expected a contiguous \(2, 6\)"):
        step_fire(torch.zeros(2, 3), state, torch.ones(3, 2), None, 1)
    with pytest.raises(ValueError, match=r"x: expected \[N, C=3"):
        step_fire(torch.zeros(2, 4), state, torch.ones(3, 3), None, 1)
    strided = RingState(torch.zeros(6, 3).t())
    with pytest.raises(ValueError, match=r"state: .* \(not contiguous\)"):
        step_fire(torch.zeros(2, 3), strided, torch.ones(3, 3), None, 1)
    for bad in (torch.zeros(2, 3, dtype=torch.float16), torch.zeros(6)):  # wrote past its end
        with pytest.raises(ValueError, match="charge: expected a contiguous"):
            step_fire(torch.zeros(2, 3), state, torch.ones(3, 3), None, 1, charge=bad)
    with pytest.raises(ValueError, match="dilation: expected an integer >= 1"):
        step_fire(torch.zeros(2, 3), state, torch.ones(3, 3), None, 0)
    huge = torch.zeros(1, 1).expand(2**16, 2**15)  # 2**31 elements in one step, no memory
    with pytest.raises(ValueError, match=r"x: 2147483648 elements per step, beyond .* 32-bit"):
        step_fire(huge, state, torch.ones(2**15, 3), None, 1)
