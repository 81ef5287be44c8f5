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


def test_subclassed_arguments_are_packed_like_their_bases(host):
    """A launch looks an argument's kind up by its exact type; subclasses (a tensor subclass,
    an IntEnum, a float subclass) take the isinstance path and reach the kernel the same."""
    import enum

    class Marked(torch.Tensor):
        pass

    class Taps(enum.IntEnum):
        THREE = 3

    class Eps(float):
        pass

    w = torch.ones(2, 3)
    wf = torch.empty_like(w)
    grid = (2, 1) if host.block == 1 else (1, 1)
    args = (w.as_subclass(Marked), None, None, None, None, wf.as_subclass(Marked), None, 2,
            Taps.THREE, Eps(0.0), True, -1, 1)
    host.launch("cpsn_fold_f32", grid, args, torch.device("cpu"))
    assert torch.equal(wf, w)


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


def test_cuda_arguments_must_share_the_launch_device():
    """Every tensor of a CuPy launch is on the launch's GPU (another device's pointer would be
    read as this one's); the packing itself needs no GPU."""
    from spikingjelly_mulfree.kernels.cuda import _kernel_arg

    cuda0 = torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"every tensor of a launch on cuda:0, got one on cpu"):
        _kernel_arg(torch.zeros(1), cuda0)
    assert _kernel_arg(None, cuda0) == np.uint64(0)
    assert _kernel_arg(3, cuda0).dtype == np.int32 and _kernel_arg(True, cuda0) == 1
    assert _kernel_arg(0.5, cuda0).dtype == np.float32
    assert _kernel_arg(np.float64(0.5), cuda0).dtype == np.float64


def test_cupy_launcher_wraps_each_torch_stream_once(monkeypatch):
    """The CuPy launcher reads torch's current stream at every launch but wraps a stream handle
    in a cupy ExternalStream once per device (no GPU: torch's stream and CuPy's wrapper are
    stand-ins that record what they were asked)."""
    pytest.importorskip("cupy")
    from types import SimpleNamespace

    from spikingjelly_mulfree.kernels import cuda

    launcher = cuda.CupyLauncher()
    current = {"handle": 11}
    monkeypatch.setattr(torch.cuda, "current_stream",
                        lambda index: SimpleNamespace(cuda_stream=current["handle"]))
    wrapped = []
    monkeypatch.setattr(launcher.cupy.cuda, "ExternalStream",
                        lambda handle: wrapped.append(handle) or ("stream", handle))
    first = launcher._stream(0)
    assert launcher._stream(0) is first and wrapped == [11]
    current["handle"] = 12  # a side stream: a wrapper of its own, read at the launch
    assert launcher._stream(0) == ("stream", 12) and wrapped == [11, 12]
    assert launcher._stream(1) == ("stream", 12) and wrapped == [11, 12, 12]
    current["handle"] = 11
    assert launcher._stream(0) is first and len(wrapped) == 3


def test_cupy_launcher_forgets_streams_past_its_cache(monkeypatch):
    """A process that launches on ever new streams does not grow the launcher's stream cache
    without bound: past STREAM_CACHE handles it starts afresh, and still wraps each one."""
    pytest.importorskip("cupy")
    from types import SimpleNamespace

    from spikingjelly_mulfree.kernels import cuda

    launcher = cuda.CupyLauncher()
    monkeypatch.setattr(cuda, "STREAM_CACHE", 3)
    current = {"handle": 0}
    monkeypatch.setattr(torch.cuda, "current_stream",
                        lambda index: SimpleNamespace(cuda_stream=current["handle"]))
    monkeypatch.setattr(launcher.cupy.cuda, "ExternalStream", lambda handle: ("stream", handle))
    for handle in range(10):
        current["handle"] = handle
        assert launcher._stream(0) == ("stream", handle)
        assert len(launcher._streams) <= 3
