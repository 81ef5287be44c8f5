"""The examples in the trainer's docstrings run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["checkpoint", "cli", "config", "distributed", "loop", "options", "records",
           "trainer"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"spikingjelly_mulfree.train.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
