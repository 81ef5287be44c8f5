"""The examples in the neuron's docstrings run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["cpsn", "tensors"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"spikingjelly_mulfree.neuron.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
