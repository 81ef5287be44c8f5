"""``benchmarks/bench_host_ab.py`` replays every launch of a training step on two host libraries
(speed itself is not tested)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_host_ab.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def test_every_launch_of_a_step_gets_a_row_per_library():
    proc = _run("--shape", "6,2,3,4", "--k", "3", "--rounds", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = re.findall(r"^(cpsn_\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", proc.stdout, re.M)
    names = [r[0] for r in rows]
    # forward: moments, their reduction + fold, charge + fire, running statistics; backward:
    # the fire op's, its reduction, the fold's, the moments' (adding both input gradients)
    assert names == ["cpsn_moments_f32", "cpsn_moments_fold_f32", "cpsn_forward_f32_mul",
                     "cpsn_running_stats_f32", "cpsn_backward_f32_mul", "cpsn_reduce_grad_f32",
                     "cpsn_fold_backward_f32", "cpsn_backward_f32_mul", "cpsn_reduce_grad_f32"]
    for _, a, b, ratio in rows:
        assert float(a) > 0 and float(b) > 0
        assert abs(float(ratio) - float(b) / float(a)) < 0.01 + 0.02 * float(ratio)
    total = re.search(r"^sum\s+([\d.]+)\s+([\d.]+)", proc.stdout, re.M)
    assert total is not None
    assert abs(float(total[1]) - sum(float(r[1]) for r in rows)) < 0.01 * len(rows)


def test_a_missing_library_is_named():
    proc = _run("--lib-b", "/nonexistent/lib.so", "--shape", "4,1,2,2", "--rounds", "1")
    assert proc.returncode != 0
    assert "--lib-a / --lib-b: no file '/nonexistent/lib.so'" in proc.stderr


def test_a_library_with_other_tiles_is_refused():
    proc = _run("--b=-DSJM_COLS=256", "--shape", "4,1,2,2", "--rounds", "1")
    assert proc.returncode != 0
    assert "the libraries tile [256, 1024] columns per thread" in proc.stderr
