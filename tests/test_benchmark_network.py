"""``benchmarks/bench_network.py`` on the tiny digits network: one row per neuron, positive
finite step times, PSN the unit of the ratio (speed itself is not tested)."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("bench_network", REPO / "benchmarks" /
                                                  "bench_network.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load()


def test_digits_table_has_every_neuron(bench, tmp_path, one_thread):
    out = bench.main(["--device", "cpu", "--networks", "digits", "--batch", "2",
                      "--repeats", "2", "--warmup", "1", "--out", str(tmp_path)])
    assert out == tmp_path
    results = json.loads((tmp_path / "network.json").read_text())
    labels = [label for label, _, _ in bench.neuron_rows(torch.device("cpu"))]
    assert {"cpsn[torch]", "cpsn[auto]", "psn", "lif"} <= set(labels)
    rows = results["networks"]["digits"]["rows"]
    assert list(rows) == labels
    for label, row in rows.items():
        assert len(row["times_ms"]) == 2 and len(row["warmup_ms"]) == 1, label
        assert math.isfinite(row["ms"]) and row["ms"] > 0, label
        assert math.isfinite(row["ratio_to_psn"]) and row["ratio_to_psn"] > 0, label
        assert row["model"] == "DigitsNet", label
    assert rows["psn"]["ratio_to_psn"] == 1.0
    assert rows["cpsn[auto]"]["autoselect_overhead_s"] >= 0
    assert set(rows["cpsn[auto]"]["auto_chose"]) <= set(bench.cpsn_backends(torch.device("cpu")))
    assert results["threads"] == 1 and results["batch"] == 2
    assert results["command"].startswith("python benchmarks/bench_network.py --device cpu")

    table = (tmp_path / "network.md").read_text()
    assert table.startswith("Measured on **CPU")
    body = [line for line in table.splitlines() if line.startswith("| digits |")]
    assert [line.split("|")[2].strip() for line in body] == labels
    for line in body:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        assert float(cells[2]) > 0 and float(cells[3]) > 0, line
    psn_cells = [c.strip() for c in body[labels.index("psn")].split("|")[1:-1]]
    assert psn_cells[3] == "1.00"
    assert "autoselect overhead" in body[labels.index("cpsn[auto]")]
    assert "peak MiB" not in table


def test_cuda_table_adds_peak_memory(bench):
    row = {"ms": 2.0, "ratio_to_psn": 0.5, "peak_MiB": 123.4, "model": "M"}
    auto = dict(row, auto_chose={"cupy": 3}, autoselect_overhead_s=0.25)
    results = {"device_type": "cuda", "meta": "Measured on **GPU**.", "networks": {"scifar10": {
        "rows": {"cpsn[auto]": auto, "psn": dict(row, ms=4.0, ratio_to_psn=1.0)},
        "model": "SequentialCIFARNet", "x_shape": [32, 2, 3, 32], "k": 16,
        "optimizer": "adamw"}}}
    table = bench.markdown(results)
    assert "| ms/step | x PSN | peak MiB | notes |" in table
    assert "| scifar10 | cpsn[auto] | 2.0 | 0.50 | 123 | chose cupy x3" in table
    assert "autoselect overhead 0.25 s" in table
    assert "| scifar10 | psn | 4.0 | 1.00 | 123 |  |" in table


def test_shd_input_is_700_channels_binned_by_5(bench):
    x, y = bench.make_batch("shd", 3)
    assert x.shape == (100, 3, 140) and y.shape == (3,)
    assert x.dtype == torch.float32 and (x >= 0).all() and (x == x.round()).all()
    assert x.sum() > 0 and y.max() < 20


def test_rejects_an_unknown_network(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--networks", "mnist", "--out", str(tmp_path)])


def test_only_the_full_default_run_targets_the_committed_results(bench, tmp_path):
    cpu = torch.device("cpu")
    full = {"networks": list(bench.DEFAULT_NETWORKS), "batch": bench.DEFAULT_BATCH,
            "repeats": bench.DEFAULT_REPEATS, "warmup": bench.DEFAULT_WARMUP}
    assert bench.RESULTS == REPO / "benchmarks" / "results"
    assert bench.default_out(cpu, **full) == bench.RESULTS / "cpu"
    assert bench.default_out(torch.device("cuda"), **full, root=tmp_path) == tmp_path / "cuda"
    for change in ({"networks": ["digits"]}, {"networks": ["shd", "scifar10"]}, {"batch": 4},
                   {"repeats": 2}, {"warmup": 1}):
        assert bench.default_out(cpu, **{**full, **change}) == bench.RESULTS / "cpu-quick", change


def test_the_documented_quick_run_writes_beside_the_committed_results(bench, tmp_path,
                                                                      monkeypatch, one_thread):
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    out = bench.main(["--device", "cpu", "--networks", "digits", "--batch", "4",
                      "--repeats", "2"])  # docs/benchmarks.md's quick command
    assert out == tmp_path / "cpu-quick"
    assert json.loads((out / "network.json").read_text())["batch"] == 4
    assert (out / "network.md").read_text().startswith("Measured on **CPU")
    assert not (tmp_path / "cpu").exists()
