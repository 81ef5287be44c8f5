"""The training tests run on one intra-op thread (the shared fixture in tests/conftest.py)."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield
