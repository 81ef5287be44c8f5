"""The host launcher's argument packing: every argument kind reaches the kernel, and a bad
launch is refused with a clear error."""
import numpy as np
import pytest
import torch

from spikingjelly_mulfree.kernels.host import MAX_ARGS


def test_every_argument_kind_reaches_the_kernel(host):
    """cpsn_fold_f64 takes pointers, a null pointer, ints, a bool and a double: a channel
    with zero variance gives 1 / sqrt(eps) exactly only if eps arrived as a double."""
    w = torch.ones(2, 3, dtype=torch.float64)
    mean, var = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    gamma, beta = torch.ones(2, dtype=torch.float64), torch.tensor([0.5, -0.5], dtype=torch.float64)
    wf, bf = torch.empty_like(w), torch.empty_like(mean)
    host.launch("cpsn_fold_f64", (2, 1) if host.block == 1 else (1, 1),
                (w, mean, var, gamma, beta, wf, bf, 2, 3, np.float64(1e-7), False, 0, 0),
                torch.device("cpu"))
    assert torch.equal(wf, torch.full_like(w, 1 / np.sqrt(1e-7)))
    assert bf.tolist() == [0.5, -0.5]
    host.launch("cpsn_fold_f64", (2, 1) if host.block == 1 else (1, 1),
                (w, None, None, None, None, wf, None, 2, 3, np.float64(0.0), True, -1, 1),
                torch.device("cpu"))
    assert torch.equal(wf, w)  # no BatchNorm: Q(1) = 1


def test_bad_launches_are_refused(host):
    with pytest.raises(KeyError, match="cpsn_nothing"):
        host.launch("cpsn_nothing", (1, 1), (1,), torch.device("cpu"))
    with pytest.raises(ValueError, match=f"at most {MAX_ARGS} kernel arguments"):
        host.launch("cpsn_fold_f32", (1, 1), (0,) * (MAX_ARGS + 1), torch.device("cpu"))
    with pytest.raises(ValueError, match="host kernels need CPU tensors, got meta"):
        host.launch("cpsn_fold_f32", (1, 1), (torch.zeros(2, device="meta"),),
                    torch.device("cpu"))
    with pytest.raises(TypeError, match="unsupported kernel argument str"):
        host.launch("cpsn_fold_f32", (1, 1), ("x",), torch.device("cpu"))
