"""The paper's Table 6, reproduced from the real sequential CIFAR-100 network, and the CLI."""
import json
import math

import pytest
import torch

from spikingjelly_mulfree.energy import (
    PAPER_TABLE6, EnergyCosts, matches_paper, table6_markdown, table6_reports,
)
from spikingjelly_mulfree.energy.__main__ import main
from spikingjelly_mulfree.energy.table6 import implied_activity, paper_digits, paper_row, sig3


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


def test_paper_rows_only_for_the_papers_setting():
    assert paper_row("psn") is PAPER_TABLE6["psn"] and paper_row("cpsn") is PAPER_TABLE6["cpsn"]
    assert paper_row("cpsn", dilations=[1] * 15) is PAPER_TABLE6["cpsn"]
    assert paper_row("cpsn", dilations="none") is PAPER_TABLE6["cpsn"]  # as the networks read it
    assert paper_row("psn", k=4) is PAPER_TABLE6["psn"]  # PSN has no order
    for kwargs in ({"k": 4}, {"dilations": "sawtooth"}, {"dilations": [1, 2] * 7 + [1]},
                   {"T": 8}, {"num_classes": 10}):
        assert paper_row("cpsn", **kwargs) is None, kwargs
    assert paper_row("psn", T=8) is None and paper_row("psn", num_classes=10) is None
    assert paper_row("sliding_psn") is None and paper_row("lif") is None
    assert paper_row("cpsn", costs=EnergyCosts()) is PAPER_TABLE6["cpsn"]
    assert paper_row("cpsn", costs=EnergyCosts(shift_pj=0.1)) is None


def test_cli_leaves_the_paper_out_at_other_costs(capsys):
    # the counts still match the paper's, but its energies are priced at its own costs: a
    # "match NO" there read as a counting error
    assert main(["--neurons", "cpsn", "--cost", "shift=0.1", "--check"]) == 1
    out = capsys.readouterr().out
    assert "SHIFT 0.1," in out and "| NO |" not in out and "| yes |" not in out
    assert "paper's synaptic share" not in out


def test_cli_compares_with_the_paper_only_at_its_setting(capsys):
    assert main(["--neurons", "cpsn", "--k", "4", "--check"]) == 1
    out, err = capsys.readouterr()
    assert "check failed: cpsn: the paper has no figures at this setting" in err
    assert "| CPSN (k=4) | 18,688 |" in out
    assert "k=16" not in out and "paper's synaptic share" not in out and "| yes |" not in out
    assert main(["--neurons", "cpsn"]) == 0
    out = capsys.readouterr().out
    assert "- CPSN (k=16): the paper's synaptic share read as ACs alone is 1.59%" in out


def test_cli_shows_neurons_without_a_rule_as_not_counted(capsys):
    assert main(["--neurons", "lif", "--check"]) == 1  # nothing to check against the paper
    out, err = capsys.readouterr()
    assert "check failed: the paper counts only psn and cpsn; this run has ['lif']" in err
    assert "| LIF | not counted | not counted | not counted | not counted | not counted |" in out
    assert "| 5.45 (synapses only) |" in out and "| LIF | 0 |" not in out
    assert ("- Not counted in the lif network (no rule): features.2 (LIFNode), "
            "features.5 (LIFNode)") in out


@pytest.mark.parametrize("pair, message", [
    ("shift=abc", "PJ a number of picojoules"),
    ("flop=1", "NAME one of mul, add, shift, mac, ac"),
    ("shift=", "PJ a number of picojoules"),
    ("shift=-1", "shift_pj: expected a finite energy >= 0"),
])
def test_cli_bad_cost_is_a_usage_error_naming_the_option(capsys, pair, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--cost", pair])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --cost:" in err and message in err and "Traceback" not in err
