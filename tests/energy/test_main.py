"""``python -m spikingjelly_mulfree.energy``: user mistakes end in one usage error line that
names the option (status 2), not in a traceback or a table of a malformed network."""
import pytest

from spikingjelly_mulfree.energy.__main__ import main


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, option", [
    (["--T", "0"], "--T"),
    (["--T", "-3", "--neurons", "cpsn"], "--T"),
    (["--k", "0"], "--k"),
    (["--num-classes", "0", "--neurons", "cpsn"], "--num-classes"),
    (["--model", "torch.nn:Identity", "--input-shape", "3,1,2", "--batch-size", "0"],
     "--batch-size"),
    (["--model", "torch.nn:Identity", "--input-shape", "3,0,2"], "--input-shape"),
])
def test_counts_and_sizes_must_be_positive(capsys, argv, option):
    err = _usage_error(capsys, argv)
    assert f"error: argument {option}:" in err and ">= 1" in err and "Traceback" not in err


@pytest.mark.parametrize("spec, message", [
    ("no_such_pkg_xyz.nets:build", "No module named 'no_such_pkg_xyz'"),
    ("spikingjelly_mulfree:no_such_factory", "has no attribute 'no_such_factory'"),
    ("torch.nn", "expected 'package.module:factory'"),
])
def test_a_model_that_cannot_be_loaded_is_a_usage_error(capsys, spec, message):
    err = _usage_error(capsys, ["--model", spec, "--input-shape", "3,1,2"])
    assert "error: argument --model:" in err and message in err


def test_a_factory_that_needs_arguments_is_a_usage_error(capsys):
    err = _usage_error(capsys, ["--model", "spikingjelly_mulfree.models:build_model",
                                "--input-shape", "8,2,8"])
    assert "error: argument --model: spikingjelly_mulfree.models:build_model must be an " \
           "nn.Module or a function that builds one with no arguments" in err


def test_a_network_refusing_the_input_shape_is_a_usage_error(capsys):
    err = _usage_error(capsys, ["--model", "spikingjelly_mulfree.models:DigitsNet",
                                "--input-shape", "16,3,2"])
    assert "error: argument --input-shape: spikingjelly_mulfree.models:DigitsNet failed on a " \
           "random input of shape (16, 3, 2)" in err and "Traceback" not in err


def test_a_dilation_list_of_the_wrong_length_is_a_usage_error(capsys):
    err = _usage_error(capsys, ["--neurons", "cpsn", "--dilations", "1,2"])
    assert "error: argument --dilations:" in err and "expected 7 values" in err


def test_an_unwritable_json_path_is_a_usage_error(capsys, tmp_path):
    err = _usage_error(capsys, ["--model", "torch.nn:Identity", "--input-shape", "3,1,2",
                                "--json", str(tmp_path / "missing" / "out.json")])
    assert "error: argument --json:" in err


def test_a_batch_size_that_is_no_dimension_of_the_input_is_a_usage_error(capsys):
    """Per-sample counts divided by a batch size the input does not have were fractions."""
    err = _usage_error(capsys, ["--model", "torch.nn:Identity", "--input-shape", "16,1,2,34",
                                "--batch-size", "3"])
    assert "error: argument --batch-size: 3 is no dimension of the input's shape " \
           "(16, 1, 2, 34)" in err


@pytest.mark.parametrize("option", [["--check"], ["--k", "4"], ["--neurons", "psn"],
                                    ["--num-classes", "10"], ["--layers"],
                                    ["--T", "32"], ["--k", "16"], ["--dilations", "none"],
                                    ["--neurons", "psn", "cpsn"]])  # the defaults' values too
def test_options_of_the_paper_network_are_refused_with_a_model(capsys, option):
    """They were ignored with --model: --check exited 0 without checking anything."""
    err = _usage_error(capsys, ["--model", "torch.nn:Identity", "--input-shape", "3,1,2",
                                *option])
    assert f"error: argument {option[0]}: sets up the paper's network, which --model " \
           f"replaces" in err


def test_a_model_that_fails_on_the_input_shape_is_a_usage_error(capsys, tmp_path, monkeypatch):
    """The network's own error (a channel count that does not fit, here) comes back naming the
    input shape, not as a bare traceback."""
    (tmp_path / "energy_test_nets.py").write_text(
        "import torch\n\ndef build():\n    return torch.nn.Conv1d(4, 4, 1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    err = _usage_error(capsys, ["--model", "energy_test_nets:build", "--input-shape", "3,1,2"])
    assert "error: argument --input-shape: energy_test_nets:build failed on a random input of " \
           "shape (3, 1, 2):" in err and "Traceback" not in err


def test_a_one_dimensional_input_counts_as_one_sample(capsys):
    """The batch-size check is for a size the user gives: a 1-D input's default of one sample
    is no dimension of it, and was refused."""
    assert main(["--model", "torch.nn:Identity", "--input-shape", "5"]) == 0
