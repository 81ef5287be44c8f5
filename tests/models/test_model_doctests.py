"""The examples in the networks' docstrings run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["neurons", "common", "blocks", "cifar", "digits", "shd", "dvs_lip", "registry"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"spikingjelly_mulfree.models.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
