"""``benchmarks/bench_dispatch.py``: the operation counter and the fixed cost of one layer.

Counts are deterministic, so they are asserted (times are not): the kernel backend's training
step launches fewer operations than PSN's, an eval forward and an in-place inference step are
two launches and nothing else."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks import bench_dispatch  # noqa: E402


def test_counter_separates_computing_ops_from_views():
    x = torch.randn(3, 4)
    computing, launches, ops = bench_dispatch.count(lambda: (x.view(12) * 2).unsqueeze(0).exp())
    assert (computing, launches) == (2, 0)
    assert ops["view"] == 1 and ops["mul"] == 1 and ops["exp"] == 1


def test_kernel_backend_counts(one_thread):
    rows = {(r["what"], r["neuron"]): r
            for r in bench_dispatch.table((3, 2, 8, 2), torch.device("cpu"), "cpu")}
    train, psn = rows["training step", "CPSN[cpu]"], rows["training step", "PSN"]
    # moments, its reduction + fold, fire, running statistics; fire backward + reduction, fold
    # backward, moments backward + reduction (one-stage reductions on the CPU), and no torch op
    assert (train["torch_ops"], train["launches"]) == (0, 9)
    assert train["launches"] < psn["torch_ops"]
    for what in ("eval forward", "inference step"):
        assert (rows[what, "CPSN[cpu]"]["torch_ops"], rows[what, "CPSN[cpu]"]["launches"]) \
            == (0, 2)
    assert rows["training step", "CPSN[torch]"]["launches"] == 0
    assert all(r["seconds"] > 0 for r in rows.values())
    assert rows["eval forward", "PSN"]["vs_psn"] == 1.0


def test_script_prints_the_table():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_dispatch.py"), "--device", "cpu",
         "--threads", "1", "--shape", "2,2,4,2"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("training", "eval",
                                                                          "inference"))]
    assert len(lines) == 8


def test_a_failing_case_is_reported_in_its_row(monkeypatch):
    """A case that raises (a CUDA graph capture that fails, say) gets its error in its row; the
    other rows are still measured."""
    def broken():
        raise RuntimeError("capture failed")

    monkeypatch.setattr(bench_dispatch, "cases", lambda shape, device, backend: {
        ("graphed step", "CPSN[x]"): broken, ("graphed step", "PSN"): lambda: None})
    rows = bench_dispatch.table((2, 2, 4, 2), torch.device("cpu"), "cpu")
    assert rows[0] == {"what": "graphed step", "neuron": "CPSN[x]",
                       "error": "RuntimeError: capture failed", "vs_psn": None}
    assert rows[1]["seconds"] > 0 and rows[1]["vs_psn"] == 1.0
