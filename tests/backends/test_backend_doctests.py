"""The examples in the backend registry's, the contract's, the torch backend's and the
autoselect's docstrings run and print what they claim (the kernel backends' run in
tests/kernels/test_kernel_doctests.py)."""
import doctest
import importlib

import pytest

MODULES = ["backends", "backends.base", "backends.torch_backend", "backends.autoselect"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"spikingjelly_mulfree.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
