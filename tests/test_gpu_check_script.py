"""``benchmarks/gpu_check.sh``, the prepared GPU run: valid bash, and every script and test path it
names exists (it runs only on a GPU machine, so a renamed file would otherwise go unnoticed)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_parses():
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_path_it_runs_exists():
    text = SCRIPT.read_text()
    paths = {p for p in re.findall(r"\b((?:benchmarks|tests)/[\w/.]+)", text)
             if not p.startswith("benchmarks/results/")}  # what the run writes
    assert {"benchmarks/bench_kernels.py", "benchmarks/report.py", "tests/kernels"} <= paths
    for path in paths:
        assert (REPO / path).exists(), path
