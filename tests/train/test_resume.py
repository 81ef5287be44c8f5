"""Checkpoints: a run stopped after an epoch and resumed ends exactly where an uninterrupted run
does (CPU, digits with random-shift augmentation); checkpoint writes are atomic."""
import pytest
import torch

from spikingjelly_mulfree.train import checkpoint as ckpt_io
from spikingjelly_mulfree.train.cli import main

COMMON = ["--epochs", "3", "--limit-train", "96", "--limit-test", "16", "--batch-size", "32",
          "--compare", "none", "--no-tensorboard", "--no-progress",
          "--model-option", "channels=4", "--model-option", "hidden=16"]


def test_resume_matches_an_uninterrupted_run(tmp_path):
    full = main([*COMMON, "--out", str(tmp_path / "full")])[0]
    first = main([*COMMON, "--out", str(tmp_path / "split"), "--stop-after", "1"])[0]
    assert first["epochs_done"] == 1 and not first["finished"]
    rest = main([*COMMON, "--out", str(tmp_path / "split"), "--resume"])[0]
    assert rest["finished"] and rest["epochs_done"] == 3

    a = torch.load(tmp_path / "full/cpsn/checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "split/cpsn/checkpoint.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    state_a, state_b = a["optimizer"]["state"], b["optimizer"]["state"]
    for i in state_a:
        assert torch.equal(state_a[i]["exp_avg"], state_b[i]["exp_avg"])
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]
    assert full["final_test_acc"] == rest["final_test_acc"]


def test_resuming_a_finished_run_trains_nothing(tmp_path):
    argv = [*COMMON, "--epochs", "1", "--out", str(tmp_path)]
    main(argv)
    before = torch.load(tmp_path / "cpsn/checkpoint.pt", weights_only=False)
    again = main([*argv, "--resume"])[0]
    after = torch.load(tmp_path / "cpsn/checkpoint.pt", weights_only=False)
    assert again["finished"] and again["epochs_done"] == 1
    assert all(torch.equal(before["model"][k], after["model"][k]) for k in before["model"])


def test_atomic_save_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    ckpt_io.atomic_save({"epoch": 1, "model": {}}, path)

    def broken(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        ckpt_io.atomic_save({"epoch": 2, "model": {}}, path)
    monkeypatch.undo()
    assert ckpt_io.load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_corrupt_checkpoint_is_named(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="is not a readable checkpoint"):
        ckpt_io.load_checkpoint(path)


def test_rng_state_round_trip():
    ckpt_io.seed_everything(3)
    state = ckpt_io.rng_state()
    a = (torch.rand(2), __import__("numpy").random.rand(), __import__("random").random())
    ckpt_io.set_rng_state(state)
    b = (torch.rand(2), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_resume_of_a_comparison_starts_the_baseline_it_never_reached(tmp_path):
    argv = [*COMMON, "--epochs", "1", "--out", str(tmp_path)]
    main(argv)
    results = main([*argv, "--compare", "lif", "--resume"])
    assert [r["neuron"] for r in results] == ["cpsn", "lif"]
    assert results[1]["finished"] and (tmp_path / "lif/checkpoint.pt").is_file()


def test_progress_bars_do_not_change_the_run(tmp_path):
    runs = []
    for flag in ("--no-progress", None):
        out = tmp_path / str(flag)
        main([*[a for a in COMMON if a != "--no-progress"], "--epochs", "1", "--out", str(out),
              *([flag] if flag else [])])
        runs.append(torch.load(out / "cpsn/checkpoint.pt", weights_only=False)["model"])
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
