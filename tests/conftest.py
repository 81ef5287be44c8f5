"""Shared pytest configuration: GPU tests skip cleanly on machines without CUDA; the ``host``
fixture runs a kernel test on both layouts of the host build."""
import pytest
import torch

from spikingjelly_mulfree.kernels.host import host_launcher
from spikingjelly_mulfree.kernels.launch import host_layout


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny inputs, and on a shared machine extra threads
    mostly wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["staged", "gpu"], ids=["staged", "gpu-layout"])
def host(request):
    """The host launcher of one layout, which CPU tensors use for the test's duration: the
    host's own staged traversal, then its build of the GPU layout, which executes on the CPU the
    code paths that otherwise only a GPU runs (one column per thread, several threads per block,
    tensors read and written in place). Each library is built (or loaded from the disk cache)
    once per process."""
    launcher = host_launcher(request.param)
    with host_layout(request.param):
        yield launcher
