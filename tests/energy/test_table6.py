"""The paper's Table 6, reproduced from the real sequential CIFAR-100 network, and the CLI."""
import json
import math

import pytest
import torch

from spikingjelly_mulfree.energy import PAPER_TABLE6, matches_paper, table6_markdown, table6_reports
from spikingjelly_mulfree.energy.__main__ import main
from spikingjelly_mulfree.energy.table6 import implied_activity, paper_digits, sig3


@pytest.fixture(scope="module")
def reports():
    return table6_reports(("psn", "cpsn"))


def test_neuron_layers_match_table6_exactly(reports):
    psn, cpsn = reports["psn"], reports["cpsn"]
    assert psn.neurons == cpsn.neurons == 18_688 == 128 * (3 * 32 + 3 * 16) + 256
    # exact counts: 18,688 neurons x (T^2, T^2 + T) and x (392, 424) for k=16
    assert (psn.total("mul", "neuron"), psn.total("add", "neuron")) == (19_136_512, 19_734_528)
    assert psn.total("shift", "neuron") == 0
    assert (cpsn.total("shift", "neuron"), cpsn.total("add", "neuron")) == (7_325_696, 7_923_712)
    assert cpsn.total("mul", "neuron") == 0
    assert psn.energy_uj("neuron") == pytest.approx(88.5661696, abs=1e-9)
    assert cpsn.energy_uj("neuron") == pytest.approx(8.08368128, abs=1e-9)
    # as the paper prints them (it truncates): 1.91e7 MUL, 1.97e7 ADD, 88.56 uJ; ...
    assert [sig3(psn.total(op, "neuron")) for op in ("mul", "add")] == [19_100_000, 19_700_000]
    assert [sig3(cpsn.total(op, "neuron")) for op in ("shift", "add")] == [7_320_000, 7_920_000]
    assert (paper_digits(psn.energy_uj("neuron")), paper_digits(cpsn.energy_uj("neuron"))) == (
        88.56, 8.08)
    assert matches_paper(psn, PAPER_TABLE6["psn"]) and matches_paper(cpsn, PAPER_TABLE6["cpsn"])


def test_a_wrong_count_does_not_match(reports):
    assert not matches_paper(reports["cpsn"], PAPER_TABLE6["psn"])


def test_synaptic_part_is_counted_and_explained(reports):
    for name, rep in reports.items():
        first = rep.layers[0]
        assert (first.name, first.kind) == ("features.0", "synapse")
        assert first.mac == 32 * 128 * 3 * 3 * 32  # real-valued image: MACs every step
        assert rep.dense_synaptic_ops() == 180_125_696  # spike-fed conv/fc at full activity
        assert all(r.mac == 0 for r in rep.layers[1:] if r.kind == "synapse")
        share = implied_activity(rep, PAPER_TABLE6[name])
        assert 0.01 < share < 0.02
    # the first layer alone (5.43 uJ) exceeds either paper synaptic share
    assert first.energy_pj(rep.costs) / 1e6 > PAPER_TABLE6["psn"].synapse_uj == 3.06
    assert PAPER_TABLE6["cpsn"].synapse_uj == 2.58


def test_markdown_table(reports):
    md = table6_markdown(reports)
    assert "| PSN | 18,688 | 1.91e7 (19,136,512) | 0 | 1.97e7 (19,734,528) | 88.5662 | 88.56 | yes" in md
    assert "| CPSN (k=16) | 18,688 | 0 | 7.32e6 (7,325,696) | 7.92e6 (7,923,712) | 8.0837 | 8.08 | yes" in md


def test_cli_prints_table6_and_checks(capsys, tmp_path):
    out_json = tmp_path / "t6.json"
    assert main(["--neurons", "cpsn", "--check", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "7.32e6 (7,325,696)" in out and "| yes |" in out
    data = json.loads(out_json.read_text())
    assert math.isclose(data["cpsn"]["energy_uj"]["neuron"], 8.08368128)


def test_cli_other_settings_and_models(capsys):
    assert main(["--neurons", "cpsn", "--T", "8", "--k", "4", "--dilations", "sawtooth",
                 "--check"]) == 1  # not Table 6's setting
    out = capsys.readouterr().out
    assert "T=8" in out and "CPSN (k=4)" in out
    assert main(["--model", "torch.nn:Identity", "--input-shape", "3,1,2"]) == 0
    with pytest.raises(SystemExit):
        main(["--model", "torch.nn:Identity"])
    with pytest.raises(SystemExit):
        main(["--cost", "flop=1"])


def test_cli_model_report(capsys, monkeypatch, tmp_path):
    (tmp_path / "user_net.py").write_text(
        "import torch\n"
        "from spikingjelly_mulfree import CPSN\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(3, 4), CPSN(4, k=2))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["--model", "user_net:build", "--input-shape", "5,2,3", "--cost", "shift=1"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | CPSN | neuron | 4 |" in out
