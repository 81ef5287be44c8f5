"""The module tests check CPSN's semantics on the reference torch backend: ``backend='auto'``
(the default) is forced to it so the results do not depend on which backend wins the timing.
The kernel backends are compared with it in ``tests/kernels``."""
import pytest


@pytest.fixture(autouse=True)
def _force_torch_backend(monkeypatch):
    monkeypatch.setenv("SPIKINGJELLY_MULFREE_BACKEND", "torch")
