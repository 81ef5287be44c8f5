"""build_dataset dispatch, metadata, and the two collate functions."""
import pytest
import torch

from spikingjelly_mulfree.datasets import DATASETS, build_dataset, pad_time_first, stack_time_first


def test_metadata_table():
    assert set(DATASETS) == {"digits", "shd", "dvs-lip", "scifar10", "scifar100", "pcifar10"}
    assert DATASETS["digits"].feature_shape == (8,)
    assert DATASETS["shd"].feature_shape == (140,) and DATASETS["shd"].variable_length
    assert DATASETS["dvs-lip"].feature_shape == (2, 88, 88) and DATASETS["dvs-lip"].default_T == 90
    assert DATASETS["scifar100"].num_classes == 100 and DATASETS["scifar10"].default_T == 32
    assert DATASETS["pcifar10"].feature_shape == (3,) and DATASETS["pcifar10"].default_T == 1024
    assert DATASETS["scifar10"].label_smoothing == 0.1
    assert callable(DATASETS["scifar10"].batch_transform)
    assert DATASETS["shd"].batch_transform is None


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="name: expected one of"):
        build_dataset("mnist")
    with pytest.raises(ValueError, match="split"):
        build_dataset("digits", split="valid")


@pytest.mark.parametrize("name", ["shd", "dvs-lip", "scifar10", "pcifar10"])
def test_root_required(name):
    with pytest.raises(ValueError, match="root"):
        build_dataset(name, root=None)


def test_stack_time_first():
    x, y = stack_time_first([(torch.full((4, 3), float(i)), i) for i in range(5)])
    assert x.shape == (4, 5, 3) and torch.equal(x[:, 2], torch.full((4, 3), 2.0))
    assert y.tolist() == [0, 1, 2, 3, 4] and y.dtype == torch.long
    with pytest.raises(ValueError, match="pad_time_first"):
        stack_time_first([(torch.zeros(4, 3), 0), (torch.zeros(5, 3), 1)])


def test_pad_time_first():
    items = [(torch.ones(2, 3), 1), (torch.ones(6, 3) * 2, 0), (torch.ones(4, 3) * 3, 2)]
    x, y = pad_time_first(items)
    assert x.shape == (6, 3, 3) and y.tolist() == [1, 0, 2]
    assert torch.equal(x[:2, 0], torch.ones(2, 3)) and x[2:, 0].abs().sum() == 0
    assert torch.equal(x[:, 1], torch.ones(6, 3) * 2) and x[4:, 2].abs().sum() == 0
    with pytest.raises(ValueError, match=r"items\[1\]"):
        pad_time_first([(torch.ones(2, 3), 0), (torch.ones(2, 4), 1)])
    with pytest.raises(ValueError, match="empty"):
        pad_time_first([])



def test_instances_pickle_and_report_their_shape(cifar10_root, shd_root, lip_root, tmp_path):
    """DataLoader workers started with 'spawn', and DDP, pickle the dataset."""
    import pickle

    cases = [
        (build_dataset("digits", mode="pixels"), (1,), 10),
        (build_dataset("scifar10", root=cifar10_root), (3, 32), 10),
        (build_dataset("pcifar10", root=cifar10_root, split="test"), (3,), 10),
        (build_dataset("shd", root=shd_root), (140,), 20),
        (build_dataset("dvs-lip", root=lip_root, T=4, cache_dir=tmp_path / "c"), (2, 88, 88), 100),
    ]
    for ds, shape, classes in cases:
        assert ds.feature_shape == shape and ds.num_classes == classes
        clone = pickle.loads(pickle.dumps(ds))
        x, y = clone[0]
        assert tuple(x.shape[1:]) == shape and y == ds[0][1]
        assert repr(ds).startswith(type(ds).__name__)


def test_check_command(shd_root, tmp_path, capsys):
    from spikingjelly_mulfree.datasets.__main__ import main

    assert main(["shd", "--data-root", str(shd_root), "--option", "T=20"]) == 0
    out = capsys.readouterr().out
    assert "shd train: 6 samples, x[0] (20, 140) float32, label 0" in out
    assert "shd test: 4 samples" in out
    assert main(["scifar10", "--data-root", str(tmp_path / "nowhere")]) == 1
    assert "cifar-10-batches-py" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["shd", "--option", "foo=2"], "--option: data set 'shd' has no option ['foo']; expected "
                                   "one of"),
    (["digits", "--option", "mode=bogus"], "--option mode: expected one of ('columns', "
                                           "'pixels') for digits, got 'bogus'"),
    (["shd"], "--data-root: data set 'shd' needs the folder that holds its files; pass "
              "--data-root PATH"),
])
def test_check_command_mistakes_are_one_error_line(capsys, argv, message):
    """The check command names its own options, as the training command does (an unknown
    option was a raw TypeError, and the hints named build_dataset's keywords)."""
    from spikingjelly_mulfree.datasets.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err and "Traceback" not in err


def test_check_command_hints_name_its_option(tmp_path, capsys):
    from spikingjelly_mulfree.datasets.__main__ import main

    assert main(["scifar10", "--data-root", str(tmp_path / "nowhere")]) == 1
    assert "pass --option download=True" in capsys.readouterr().err
