"""``benchmarks/bench_passes.py --quick`` prints a bandwidth row per kernel pass (speed itself is
not tested)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_run_prints_every_pass():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_passes.py"), "--quick", "--device",
         "cpu", "--threads", "1", "--repeats", "2", "--k", "2"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ", k=2, fp32" in proc.stdout
    rows = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(\w[\w +]*?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%$", line)
        if match:
            rows[match[1]] = tuple(float(v) for v in match.groups()[1:])
    assert set(rows) == {"moments", "charge + fire", "fire backward", "moments backward",
                         "training step"}
    assert [rows[name][0] for name in ("moments", "charge + fire", "fire backward",
                                       "moments backward", "training step")] == [4, 8, 12, 12, 36]
    assert all(ms > 0 and gbs > 0 and share > 0 for _, ms, gbs, share in rows.values())
    step = sum(rows[name][1] for name in rows if name != "training step")
    assert abs(rows["training step"][1] - step) < 1e-2 + 1e-3 * step
