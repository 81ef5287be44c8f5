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


FAKE_PYTHON = r"""#!/usr/bin/env bash
# stands in for the GPU machine's python3: records its arguments, writes what report.py and
# bench_network.py would write under --out, and sleeps in the gpu tests for $FAKE_SLEEP seconds
echo "$*" >> "$CALLS"
out=""
while (($#)); do [[ $1 == --out ]] && out=$2; shift; done
case "$(tail -n 1 "$CALLS")" in
    *report.py*) mkdir -p "$out/cuda" && echo report > "$out/cuda/report.md" ;;
    *bench_network.py*) echo network > "$out/network.md" ;;
    *"-m gpu"*) exec sleep "${FAKE_SLEEP:-0}" ;;
esac
"""


def _run_script(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    bin_dir, out = tmp_path / "bin", tmp_path / "out"
    bin_dir.mkdir()
    for name, text in {"python3": FAKE_PYTHON, "nvidia-smi": "#!/bin/sh\necho GPU 0\n"}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    run_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"), **env}
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], cwd=REPO, env=run_env,
                          capture_output=True, text=True, timeout=60)
    return proc, out


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and timeout")
def test_a_full_run_brings_back_its_results_in_order(tmp_path):
    proc, out = _run_script(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    runs = [c for c in calls if "pip install" not in c and not c.startswith("-c")]
    order = ["-m gpu", "bench_passes", "report.py", "bench_kernels", "bench_dispatch",
             "bench_network", "tests/kernels"]
    firsts = [next(i for i, c in enumerate(runs) if key in c) for key in order]
    assert firsts == sorted(firsts), runs
    assert sum("bench_dispatch" in c for c in runs) == 5
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all(re.fullmatch(r"[\w.-]+", f) for f in files), files
    listing = subprocess.run(["tar", "tzf", str(out / "results_cuda.tgz")],
                             capture_output=True, text=True, check=True).stdout
    assert {"./report.md", "./network.md"} <= set(listing.split())
    device = (out / "device.txt").read_text()
    assert device.count("status 0") == 11 and "total:" in device, device


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and timeout")
def test_a_run_out_of_time_stops_its_step_and_skips_the_rest(tmp_path):
    proc, out = _run_script(tmp_path, FAKE_SLEEP="30", TOTAL_LIMIT="3", MIN_STEP="2")
    assert proc.returncode == 1
    device = (out / "device.txt").read_text()
    assert "step tests_gpu: status 124" in device, device
    assert device.count("skipped") == 10, device
    total = int(re.search(r"total: (\d+) s", device).group(1))
    assert total <= 5, device
