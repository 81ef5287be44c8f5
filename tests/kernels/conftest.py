"""Kernel tests: the host build is made (or loaded from the disk cache) once per session."""
import pytest

from spikingjelly_mulfree.kernels.host import host_launcher


@pytest.fixture(scope="session")
def host():
    """The host launcher (the library is built once and cached on disk)."""
    return host_launcher()
