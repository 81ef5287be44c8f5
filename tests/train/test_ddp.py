"""Two Gloo processes (DDP on CPU) end with the same parameters as one process that sees the
same global batches (tiny Linear-LIF model: no batch statistics, no dropout)."""
import os
import socket

import torch
import torch.multiprocessing as mp
from spikingjelly.activation_based import layer
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

from spikingjelly_mulfree.datasets import stack_time_first
from spikingjelly_mulfree.train import TrainConfig, fit
from spikingjelly_mulfree.train import distributed as dist_utils

EPOCHS, SAMPLES, GLOBAL_BATCH = 2, 32, 8
TEST_SAMPLES = 9  # rank 0 evaluates 2 batches of 4, rank 1 one: no collective may hang


class Sequences(torch.utils.data.Dataset):
    collate_fn = staticmethod(stack_time_first)
    augment = False

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 6, 8, generator=g)
        self.y = torch.randint(0, 10, (n,), generator=g).tolist()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = layer.Linear(8, 16, step_mode="m")
        self.sn = sj_neuron.LIFNode(step_mode="m", detach_reset=True)
        self.fc2 = layer.Linear(16, 10, step_mode="m")

    def forward(self, x):
        return self.fc2(self.sn(self.fc1(x))).mean(0)


def _builder(cfg, sample, num_classes):
    return TinyNet()


def _config(out):
    return TrainConfig(dataset="digits", epochs=EPOCHS, batch_size=GLOBAL_BATCH, lr=1e-2,
                       out=str(out), device="cpu", tensorboard=False, progress=False, threads=1)


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    try:
        fit(_config(out), _builder, (Sequences(SAMPLES, 0), Sequences(TEST_SAMPLES, 1)))
    finally:
        dist_utils.cleanup()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_match_one_process(tmp_path):
    data = (Sequences(SAMPLES, 0), Sequences(TEST_SAMPLES, 1))
    single = fit(_config(tmp_path / "single"), _builder, data)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)

    a = torch.load(tmp_path / "single/checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "ddp/checkpoint.pt", weights_only=False)
    assert b["config"]["out"].endswith("ddp") and len(b["rng"]) == 2
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    initial = TinyNet().state_dict()
    assert max((a["model"][k] - initial[k]).abs().max() for k in a["model"]) > 1e-3
    ddp_hist, single_hist = b["history"], a["history"]
    assert [r["test_acc"] for r in ddp_hist] == [r["test_acc"] for r in single_hist]
    for r_single, r_ddp in zip(single_hist, ddp_hist):
        assert abs(r_single["train_loss"] - r_ddp["train_loss"]) < 1e-5
    assert single["world_size"] == 1
