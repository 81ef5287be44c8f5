"""The training command line: one tiny epoch per data set, records, errors, the summary.

Digits and sequential CIFAR-10 read real data (scikit-learn's bundled digits; CIFAR pickles
in torchvision's format written into ``tmp_path``). For ``shd``, ``dvs-lip``, ``scifar100``
and ``pcifar10`` the tests monkeypatch ``build_dataset`` in the trainer to a tiny synthetic
dataset of the real sample shapes (their loaders have their own tests in ``tests/datasets``).
"""
import csv
import json
import pickle

import numpy as np
import pytest
import torch

from spikingjelly_mulfree.datasets import DATASETS, pad_time_first
from spikingjelly_mulfree.train import cli, trainer
from spikingjelly_mulfree.train.cli import main

FAST = ["--no-tensorboard", "--no-progress", "--compare", "none"]


class TinySet(torch.utils.data.Dataset):
    """Random time-first samples ``[T, *features]`` with cycling labels."""

    def __init__(self, n, T, features, num_classes, variable=False):
        g = torch.Generator().manual_seed(n)
        self.items = []
        for i in range(n):
            steps = T - (i % 3) if variable else T
            self.items.append((torch.rand(steps, *features, generator=g), i % num_classes))
        self.augment = False
        self.collate_fn = pad_time_first

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _write_cifar10(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                         "labels": [0, 1, 2, 3]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)


def test_digits_epoch_writes_records(tmp_path):
    out = tmp_path / "run"
    results = main(["--epochs", "1", "--limit-train", "64", "--limit-test", "32",
                    "--batch-size", "32", "--out", str(out), "--compare", "lif",
                    "--no-progress"])
    assert [r["neuron"] for r in results] == ["cpsn", "lif"]
    for neuron in ("cpsn", "lif"):
        folder = out / neuron
        rows = list(csv.DictReader(open(folder / "metrics.csv")))
        assert len(rows) == 1 and 0.0 <= float(rows[0]["test_acc"]) <= 1.0
        assert float(rows[0]["samples_per_second"]) > 0
        summary = json.loads((folder / "results.json").read_text())
        assert summary["finished"] and summary["epochs_done"] == 1
        assert summary["config"]["neuron"] == neuron
        assert any((folder / "tensorboard").iterdir())
        ckpt = torch.load(folder / "checkpoint.pt", weights_only=False)
        assert ckpt["epoch"] == 1 and {"python", "numpy", "torch"} <= set(ckpt["rng"][0])
        assert {"model", "optimizer", "scheduler", "scaler", "history"} <= set(ckpt)
    assert results[0]["config"]["k"] == 4 and results[0]["dilations"] == [1, 2, 1, 2]


def test_scifar10_epoch_on_real_format_pickles(tmp_path):
    _write_cifar10(tmp_path / "data")
    results = main(["--dataset", "scifar10", "--data-root", str(tmp_path / "data"),
                    "--epochs", "1", "--batch-size", "4", "--k", "2",
                    "--model-option", "channels=8", "--out", str(tmp_path / "run"), *FAST])
    assert results[0]["epochs_done"] == 1 and results[0]["config"]["optimizer"] == "adamw"


@pytest.mark.parametrize("dataset, T, extra", [
    ("shd", 12, ["--model-option", "hidden=8", "--model-option", "max_delay=5"]),
    ("dvs-lip", 4, ["--model-option", "widths=(4,4,4,8,8)"]),
    ("scifar100", 32, ["--model-option", "channels=4"]),
    ("pcifar10", 64, ["--model-option", "widths=(4,8)"]),
])
def test_one_epoch_per_dataset(tmp_path, monkeypatch, dataset, T, extra):
    info = DATASETS[dataset]
    features = (2, 24, 24) if dataset == "dvs-lip" else info.feature_shape

    def fake_build(name, root, split, **options):
        assert name == dataset
        return TinySet(4, T, features, info.num_classes, variable=info.variable_length)

    monkeypatch.setattr(trainer, "build_dataset", fake_build)
    results = main(["--dataset", dataset, "--data-root", str(tmp_path), "--epochs", "1",
                    "--batch-size", "2", "--out", str(tmp_path / "run"), *extra, *FAST])
    r = results[0]
    assert r["epochs_done"] == 1 and r["dataset"] == dataset
    assert 0.0 <= r["final_test_acc"] <= 1.0


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs: expected a positive integer"),
    (["--lr", "-1"], "--lr: expected a positive number"),
    (["--dilations", "1,x"], "--dilations: expected 'sawtooth', 'none' or comma-separated"),
    (["--neuron", "izh"], "--neuron: invalid choice"),
    (["--dataset", "mnist"], "--dataset: invalid choice"),
    (["--data-option", "T"], "--data-option: expected KEY=VALUE"),
    (["--compare", "none", "lif"], "--compare: 'none' cannot be combined"),
])
def test_bad_values_are_named(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--amp", "--device", "cpu"], "--amp: mixed precision needs a CUDA device"),
    (["--resume"], "--resume: no checkpoint at"),
    (["--model-option", "widht=3"], "--model-option:"),
    (["--device", "tpu:0"], "--device: expected 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    (["--backend", "fpga"], "--backend: expected one of"),
])
def test_settings_that_cannot_run_are_named(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--epochs", "1", "--limit-train", "8", "--limit-test", "8",
              "--out", str(tmp_path), *FAST])
    assert exc.value.code in (1, 2)
    assert message in capsys.readouterr().err


def test_missing_data_names_the_path(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "scifar10", "--data-root", str(tmp_path / "nowhere"),
              "--out", str(tmp_path / "run"), *FAST])
    assert exc.value.code == 1
    assert "nowhere" in capsys.readouterr().err


def test_summary_table_lists_every_run():
    rows = [{"neuron": n, "dataset": "digits", "final_test_acc": a, "best_test_acc": a,
             "parameters": 1000, "epochs_done": 2, "seconds_this_invocation": 3.0}
            for n, a in (("cpsn", 0.955), ("lif", 0.9))]
    table = cli.summary_table(rows)
    assert "95.50%" in table and "90.00%" in table and "1,000" in table
