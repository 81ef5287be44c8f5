"""The examples in the integer modules' docstrings run and print what they claim."""
import doctest
import importlib

import pytest

from spikingjelly_mulfree.kernels.host import compiler

MODULES = ["charge", "fixed_point", "kernel", "module", "plan"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "kernel" and compiler() is None:
        pytest.skip("the kernel example runs the host build: no host C++ compiler")
    module = importlib.import_module(f"spikingjelly_mulfree.integer.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
