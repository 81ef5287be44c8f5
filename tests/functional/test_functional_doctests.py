"""The examples in the functional, neuron, dilation and surrogate modules' docstrings run and
print what they claim."""
import doctest
import importlib

import pytest

MODULES = [
    "functional.charge", "functional.checks", "functional.quantize", "functional.step",
    "functional.surrogate_grad", "functional.threshold", "neuron.checks", "neuron.cpsn",
    "dilation", "surrogate",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"spikingjelly_mulfree.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
