"""The examples in the energy docstrings run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["__init__", "costs", "neuron_counter", "synapse", "report", "table6"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(
        "spikingjelly_mulfree.energy" + ("" if name == "__init__" else f".{name}"))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
