"""CUDA paths of the trainer: mixed precision with a gradient scaler (skipped without CUDA)."""
import pytest
import torch

from spikingjelly_mulfree.train.cli import main


@pytest.mark.gpu
def test_amp_epoch_on_cuda(tmp_path):
    results = main(["--epochs", "1", "--limit-train", "64", "--limit-test", "32",
                    "--batch-size", "32", "--amp", "--device", "cuda", "--compare", "lif",
                    "--out", str(tmp_path), "--no-tensorboard", "--no-progress"])
    assert [r["device"].startswith("cuda") for r in results] == [True, True]
    ckpt = torch.load(tmp_path / "cpsn/checkpoint.pt", map_location="cpu", weights_only=False)
    assert ckpt["scaler"]["scale"] > 0
    assert 0.0 <= results[0]["final_test_acc"] <= 1.0
