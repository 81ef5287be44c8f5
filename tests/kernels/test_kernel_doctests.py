"""The examples in the kernel modules' docstrings run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["cupy_kernels", "spikingjelly_mulfree.kernels.launch",
           "spikingjelly_mulfree.kernels.host", "spikingjelly_mulfree.kernels.ops",
           "spikingjelly_mulfree.kernels.step", "spikingjelly_mulfree.kernels.library",
           "spikingjelly_mulfree.kernels.fold", "spikingjelly_mulfree.kernels.fused",
           "spikingjelly_mulfree.kernels.cuda",
           "spikingjelly_mulfree.backends.cupy_backend",
           "spikingjelly_mulfree.backends.host_backend"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(host, name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0
