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

from spikingjelly_mulfree.datasets import DATASETS, DatasetNotFoundError, build_dataset, \
    pad_time_first
from spikingjelly_mulfree.neuron.cpsn import CPSN
from spikingjelly_mulfree.train import ConfigError, TrainConfig, build_parser, cli, resolve, \
    trainer
from spikingjelly_mulfree.train.cli import main
from spikingjelly_mulfree.train.options import check_options, loader_options

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


def test_dilations_none_means_dilation_one_everywhere(tmp_path):
    assert resolve(build_parser().parse_args(["--dataset", "pcifar10", "--dilations", "none"])
                   )[0].dilations == "none"
    results = main(["--dilations", "none", "--epochs", "1", "--limit-train", "16",
                    "--limit-test", "8", "--out", str(tmp_path), *FAST])
    assert results[0]["config"]["dilations"] == "none"
    assert results[0]["dilations"] == [1, 1, 1, 1]
    model = trainer.default_model_builder(TrainConfig(dilations="none"), torch.rand(8, 8), 10)
    assert [m.dilation for m in model.modules() if isinstance(m, CPSN)] == [1, 1, 1, 1]


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "scifar10"], "--data-root: data set 'scifar10' needs the folder"),
    (["--dilations", "1,2"], "--dilations: expected 4 values (one per CPSN layer), got 2"),
    (["--data-option", "mode=bogus"], "--data-option mode: expected one of ('columns', "
                                      "'pixels') for digits, got 'bogus'"),
    (["--data-option", "foo=1"], "--data-option: data set 'digits' has no option ['foo']; "
                                 "expected one of ['mode']"),
    (["--data-option", "mode=3"], "--data-option mode: expected str (default 'columns'), got 3"),
    (["--model-option", "channels=abc"], "--model-option channels: expected int (default 64), "
                                         "got 'abc'"),
    (["--model-option", "dropout=True"], "--model-option dropout: expected float"),
    # the keys listed are those the option may set (k, T, neuron... are the run's)
    (["--model-option", "chanels=3"], "--model-option: DigitsNet has no option ['chanels']; "
                                      "expected one of ['channels', 'detach_reset', 'dropout', "
                                      "'eps', 'exp_range', 'hidden', 'init', 'momentum', "
                                      "'mul_free', 'threshold']"),
    (["--model-option", "channels"], "argument --model-option: expected KEY=VALUE (e.g. "
                                     "channels=64), got 'channels'"),
    (["--alpha", "1e999"], "--alpha: expected a finite number > 0 (the sharpness of the 'atan' "
                           "surrogate gradient), got inf"),
    # what the run sets itself: an override trained another network than the one recorded
    (["--model-option", "num_classes=5"], "--model-option num_classes: set by the data set"),
    (["--model-option", "neuron='lif'"], "--model-option neuron: set by --neuron, not by"),
    (["--model-option", "k=2"], "--model-option k: set by --k, not by --model-option"),
    (["--model-option", "alpha=0.5"], "--model-option alpha: set by --alpha"),
    (["--model-option", "in_features=4"], "--model-option in_features: set by the data"),
    (["--model-option", "T=4"], "--model-option T: set by the data (its sequence length"),
    (["--backend", "cupy", "--device", "cpu"], "--backend: 'cupy' cannot train on cpu"),
])
def test_user_mistakes_are_one_error_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--epochs", "1", "--limit-train", "8", "--limit-test", "8",
              "--out", str(tmp_path), *FAST])
    assert exc.value.code == 2
    assert f"error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "cpsn").exists()


def test_model_option_values_that_fit_the_annotation_pass():
    accepted = trainer.network_options(TrainConfig(dataset="pcifar10"))
    check_options("--model-option", "PixelCIFARNet",
                  {"threshold": 1.0, "widths": [4, 8], "alpha": None, "dilations": [1, 2]},
                  accepted)
    with pytest.raises(ConfigError, match=r"--model-option widths: expected tuple\[int, int\]"):
        check_options("--model-option", "PixelCIFARNet", {"widths": (4, "a")}, accepted)


@pytest.mark.parametrize("dataset, keys", [
    ("digits", {"mode"}), ("shd", {"T", "download"}),
    ("dvs-lip", {"T", "polarity", "cache", "cache_dir"}),
    ("scifar10", {"download", "check_md5"}),
])
def test_data_options_are_the_loaders_keywords(dataset, keys):
    assert set(loader_options(dataset)) == keys


def test_missing_optional_package_is_one_error_line(tmp_path, capsys, monkeypatch):
    def no_tonic(*args, **options):
        raise ImportError("the SHD loader needs Tonic and h5py: pip install tonic h5py")

    monkeypatch.setattr(trainer, "build_dataset", no_tonic)
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "shd", "--data-root", str(tmp_path), "--out", str(tmp_path), *FAST])
    assert exc.value.code == 1
    assert "error: the SHD loader needs Tonic and h5py: pip install tonic h5py" in \
        capsys.readouterr().err


@pytest.mark.parametrize("error", [ImportError("cannot import name 'thing' from 'somewhere'"),
                                   ValueError("index: out of range"),
                                   ValueError("could not broadcast shapes")])
def test_internal_errors_keep_their_traceback(tmp_path, monkeypatch, error):
    def broken(*args, **options):
        raise error

    monkeypatch.setattr(trainer, "build_dataset", broken)
    with pytest.raises(type(error), match=str(error)):
        main(["--dataset", "shd", "--data-root", str(tmp_path), "--data-option", "T=5",
              "--out", str(tmp_path), *FAST])


def test_download_hint_names_the_cli_option(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--dataset", "scifar10", "--data-root", str(tmp_path / "nowhere"),
              "--out", str(tmp_path / "run"), *FAST])
    assert "pass --data-option download=True" in capsys.readouterr().err
    with pytest.raises(DatasetNotFoundError) as exc:
        build_dataset("scifar10", tmp_path / "nowhere")
    assert "pass download=True" in str(exc.value) and "--data-option" not in str(exc.value)


def test_a_neuron_named_twice_trains_once():
    """--compare lif lif trained LIF twice into the same folder (the second over the first)."""
    cfgs = resolve(build_parser().parse_args(["--compare", "lif", "lif", "cpsn"]))
    assert [c.neuron for c in cfgs] == ["cpsn", "lif"]


def test_a_fresh_run_into_an_earlier_one_says_it_replaces_it(tmp_path, capsys):
    argv = ["--epochs", "1", "--limit-train", "8", "--limit-test", "8", "--out", str(tmp_path),
            *FAST]
    main(argv)
    assert "holds an earlier run" not in capsys.readouterr().err
    main(argv)
    assert f"note: {tmp_path}/cpsn holds an earlier run, which this one replaces (pass " \
           f"--resume to continue it" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a command refused before training replaces nothing
        main([*argv, "--model-option", "chanels=3"])
    assert "holds an earlier run" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--neuron", "lif", "--k", "3"], "--k: none of the neurons this run trains (lif) takes it "
                                      "(it applies to cpsn and sliding_psn); drop --k"),
    (["--neuron", "lif", "--backend", "cpu"], "--backend: none of the neurons this run trains "
                                               "(lif) takes it (it applies to cpsn)"),
    (["--neuron", "psn", "--compare", "lif", "--dilations", "none"],
     "--dilations: none of the neurons this run trains (psn, lif) takes it (it applies to "
     "cpsn); drop --dilations"),
])
def test_a_neuron_option_no_trained_neuron_takes_is_refused(tmp_path, capsys, argv, message):
    """--k, --dilations and --backend were ignored for LIF (the results recorded them all the
    same)."""
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--epochs", "1", "--out", str(tmp_path), "--no-tensorboard",
              "--no-progress"])
    assert exc.value.code == 2 and f"error: {message}" in capsys.readouterr().err


def test_an_order_for_the_compared_cpsn_is_fine():
    cfgs = resolve(build_parser().parse_args(["--neuron", "lif", "--compare", "cpsn", "--k", "3"]))
    assert [(c.neuron, c.k) for c in cfgs] == [("lif", 3), ("cpsn", 3)]


def test_shd_network_length_follows_a_fixed_data_length():
    """SHD's samples differ in length, so its network has a T of its own (140); with
    --data-option T the samples have that length and the network follows it (a PSN built for
    140 steps met 20-step samples), and --model-option T is then the data's to set."""
    from spikingjelly.activation_based import neuron as sj_neuron

    def psn_lengths(cfg, steps):
        model = trainer.default_model_builder(cfg, torch.zeros(steps, 140), 20)
        return {m.T for m in model.modules() if isinstance(m, sj_neuron.PSN)}

    assert psn_lengths(TrainConfig(dataset="shd", neuron="psn", k=2), 37) == {140}
    assert psn_lengths(TrainConfig(dataset="shd", neuron="psn", k=2,
                                   model_options={"T": 37}), 37) == {37}
    assert psn_lengths(TrainConfig(dataset="shd", neuron="psn", k=2,
                                   data_options={"T": 20}), 20) == {20}
    with pytest.raises(ConfigError, match="--model-option T: set by the data"):
        psn_lengths(TrainConfig(dataset="shd", neuron="psn", k=2, data_options={"T": 20},
                                model_options={"T": 30}), 20)


@pytest.mark.parametrize("dataset, sample, key", [
    ("scifar10", (32, 3, 32), "length"), ("scifar100", (32, 3, 32), "in_channels"),
    ("pcifar10", (1024, 3), "in_channels"), ("dvs-lip", (4, 2, 88, 88), "in_channels")])
def test_network_sizes_the_data_sets_are_refused_as_model_options(dataset, sample, key):
    """They built a network for another input, which failed at its first batch."""
    cfg = TrainConfig(dataset=dataset, model_options={key: 1})
    with pytest.raises(ConfigError, match=rf"--model-option {key}: set by the data"):
        trainer.default_model_builder(cfg, torch.zeros(sample), 10)

