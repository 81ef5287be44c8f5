"""Shared pytest configuration: GPU tests skip cleanly on machines without CUDA; the ``host``
fixture runs a kernel test on both layouts of the host build, which the session builds side by
side before the first test."""
import concurrent.futures

import pytest
import torch

from spikingjelly_mulfree.kernels.host import LAYOUTS, build, compiler, host_launcher
from spikingjelly_mulfree.kernels.launch import host_layout


def pytest_collection_finish(session):
    """When a collected test runs on both host layouts, compile the two at once before the
    first test (each is a ~30 s compiler process that would otherwise wait for the other, on a
    fresh machine such as CI's or after a kernel source changed: 65 s instead of 84 on two
    cores). A library already in the disk cache is only looked up. A failed build is left for
    the tests that load the library, which then fail with the compiler's message."""
    if compiler() is None or not any(
            "host" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    with concurrent.futures.ThreadPoolExecutor(len(LAYOUTS)) as pool:
        builds = [pool.submit(build, layout=layout) for layout in LAYOUTS]
    for done in builds:
        error = done.exception()
        if error is not None and not isinstance(error, RuntimeError):
            raise error


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
