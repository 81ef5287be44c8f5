"""One intra-op thread for the training tests: the models are tiny, and on a shared machine
extra threads mostly wait for each other."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
