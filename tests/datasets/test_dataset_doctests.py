"""The examples in the datasets' docstrings run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["__main__", "base", "errors", "collate", "registry", "digits", "cifar", "mixing",
           "shd", "dvs_lip", "event_augment", "frame_augment"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"spikingjelly_mulfree.datasets.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
