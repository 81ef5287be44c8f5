"""Checkpoints: a run stopped after an epoch and resumed ends exactly where an uninterrupted run
does (CPU, digits with random-shift augmentation); checkpoint writes are atomic; a resume with
other training settings is refused, naming them."""
import random

import numpy as np
import pytest
import torch

from spikingjelly_mulfree.train import TrainConfig
from spikingjelly_mulfree.train import checkpoint as ckpt_io
from spikingjelly_mulfree.train.config import resume_conflicts
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

    a = torch.load(tmp_path / "full/cpsn/checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "split/cpsn/checkpoint.pt", weights_only=True)
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
    before = torch.load(tmp_path / "cpsn/checkpoint.pt", weights_only=True)
    again = main([*argv, "--resume"])[0]
    after = torch.load(tmp_path / "cpsn/checkpoint.pt", weights_only=True)
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


def _draw():
    return (torch.rand(2), np.random.standard_normal(), np.random.rand(), random.random())


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    """The state is saved as tensors and plain values: a checkpoint loads with
    ``weights_only=True`` (no pickled NumPy objects to trust)."""
    ckpt_io.seed_everything(3)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
    ckpt_io.atomic_save({"rng": ckpt_io.rng_state()}, tmp_path / "rng.pt")
    state = torch.load(tmp_path / "rng.pt", weights_only=True)["rng"]
    a = _draw()
    ckpt_io.set_rng_state(state)
    b = _draw()
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_resume_of_a_comparison_starts_the_baseline_it_never_reached(tmp_path, capsys):
    argv = [*COMMON, "--epochs", "1", "--out", str(tmp_path)]
    main(argv)
    capsys.readouterr()
    results = main([*argv, "--compare", "lif", "--resume"])
    assert [r["neuron"] for r in results] == ["cpsn", "lif"]
    assert results[1]["finished"] and (tmp_path / "lif/checkpoint.pt").is_file()
    err = capsys.readouterr().err
    assert f"note: {tmp_path}/lif has no checkpoint to resume: lif starts afresh" in err
    assert "cpsn has no checkpoint" not in err and "cpsn starts" not in err


def test_progress_bars_do_not_change_the_run(tmp_path):
    runs = []
    for flag in ("--no-progress", None):
        out = tmp_path / str(flag)
        main([*[a for a in COMMON if a != "--no-progress"], "--epochs", "1", "--out", str(out),
              *([flag] if flag else [])])
        runs.append(torch.load(out / "cpsn/checkpoint.pt", weights_only=True)["model"])
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


@pytest.mark.parametrize("change, named", [
    (["--epochs", "2"], "--epochs 1 (now 2)"),
    (["--lr", "0.1"], "--lr 0.005 (now 0.1)"),
    (["--k", "2"], "--k 4 (now 2)"),
    (["--dilations", "none"], "--dilations 'sawtooth' (now 'none')"),
    (["--seed", "1"], "--seed 0 (now 1)"),
    (["--limit-train", "64"], "--limit-train 96 (now 64)"),
    (["--model-option", "hidden=8"], "--model-option {'channels': 4, 'hidden': 16} "
                                     "(now {'channels': 4, 'hidden': 8})"),
])
def test_resume_refuses_other_options(tmp_path, capsys, change, named):
    argv = [*COMMON, "--epochs", "1", "--out", str(tmp_path)]
    main(argv)
    before = torch.load(tmp_path / "cpsn/checkpoint.pt", weights_only=True)
    with pytest.raises(SystemExit) as exc:
        main([*argv, *change, "--resume"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert f"error: --resume: {tmp_path / 'cpsn/checkpoint.pt'} was written with other " \
           f"options: {named}" in err
    assert "resume with the options of that run, or pass a new --out" in err
    after = torch.load(tmp_path / "cpsn/checkpoint.pt", weights_only=True)
    assert after["epoch"] == 1 and after["history"] == before["history"]


def test_resume_may_change_where_the_run_executes(tmp_path):
    main([*COMMON, "--out", str(tmp_path), "--stop-after", "1"])
    rest = main([*COMMON, "--out", str(tmp_path), "--resume", "--threads", "2",
                 "--device", "cpu", "--backend", "auto"])[0]
    assert rest["finished"] and rest["epochs_done"] == 3
    assert rest["config"]["threads"] == 2


def test_resume_conflicts_compare_every_training_setting():
    saved = TrainConfig().to_dict()
    assert resume_conflicts(saved, TrainConfig(workers=2, threads=3, device="cpu", resume=True,
                                               stop_after=1, out="elsewhere",
                                               progress=False)) == []
    assert resume_conflicts(saved, TrainConfig(amp=True, schedule="constant")) == [
        "--schedule 'cosine' (now 'constant')", "--amp False (now True)"]
    older = {key: value for key, value in saved.items() if key != "limit_test"}
    assert resume_conflicts(older, TrainConfig()) == []
    assert resume_conflicts({**saved, "dilations": None}, TrainConfig(dilations="none")) == []


def test_unreadable_checkpoint_is_one_error_line(tmp_path, capsys):
    (tmp_path / "cpsn").mkdir()
    (tmp_path / "cpsn/checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exc:
        main([*COMMON, "--out", str(tmp_path), "--resume"])
    assert exc.value.code == 1
    assert "is not a readable checkpoint" in capsys.readouterr().err


def test_resume_checks_every_compared_run_before_training(tmp_path, capsys):
    argv = [*COMMON, "--epochs", "2", "--stop-after", "1", "--compare", "lif",
            "--out", str(tmp_path)]
    main(argv)
    path = tmp_path / "lif/checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["config"]["lr"] = 0.1  # the baseline's run was written with another lr
    torch.save(state, path)
    with pytest.raises(SystemExit) as exc:
        main([a for a in argv if a not in ("--stop-after", "1")] + ["--resume"])
    assert exc.value.code == 2
    assert f"{path} was written with other options: --lr 0.1" in capsys.readouterr().err
    assert torch.load(tmp_path / "cpsn/checkpoint.pt", weights_only=True)["epoch"] == 1


def test_a_checkpoint_with_pickled_objects_is_refused_with_the_reason(tmp_path):
    """A checkpoint of an earlier version pickled NumPy's generator state."""
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 1, "model": {}, "rng": [{"numpy": np.random.get_state()}]}, path)
    with pytest.raises(ckpt_io.CheckpointError, match="holds pickled objects that a "
                                                      "weights-only load refuses"):
        ckpt_io.load_checkpoint(path)
