"""``benchmarks/report.py --quick`` regenerates its tables and plots (speed itself is not tested)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("matplotlib")


def test_quick_report_writes_tables_and_plots(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "report.py"), "--quick", "--quiet",
         "--device", "cpu", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "cpu-quick"
    for name in ("results.json", "report.md", "meta.md", "sweep_T.md", "sweep_k.md", "headline.md",
                 "single_step.md", "sweep_T.png", "sweep_k.png", "single_step.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png.name
    results = json.loads((out / "results.json").read_text())
    labels = set(results["sweep_T"])
    assert {"PSN", "MaskedPSN", "SlidingPSN", "LIF", "CPSN[torch]"} <= labels
    assert "auto" not in " ".join(labels)
    for row in results["sweep_T"].values():
        assert row["x"] == [2, 8] and all(ms > 0 for ms in row["ms"])
    assert "CPSN[torch]" in (out / "sweep_T.md").read_text()
    assert set(results["single_step"]) >= {"SlidingPSN k=4", "CPSN k=2"}

    # --replot rebuilds tables and plots from results.json without measuring again
    (out / "sweep_k.png").unlink()
    (out / "headline.md").unlink()
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "report.py"), "--replot",
         str(out / "results.json")],
        check=True, capture_output=True, timeout=300, cwd=REPO,
    )
    assert (out / "sweep_k.png").is_file()
    assert "x PSN" in (out / "headline.md").read_text()


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_report", REPO / "benchmarks" / "report.py")
    report = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = report  # dataclasses look their module up there
    spec.loader.exec_module(report)
    out = tmp_path / "results" / "cpu"
    out.mkdir(parents=True)
    (out / "meta.md").write_text("Measured on **X**.\n")
    (out / "headline.md").write_text("| neuron | time |\n|---|---|\n| PSN | 1 |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n{report.README_START}\nold\n{report.README_END}\nafter\n")
    assert report.update_readme(readme, out)
    text = readme.read_text()
    assert "old" not in text and "| PSN | 1 |" in text and "results/cpu/sweep_T.png" in text
    assert text.startswith("# T\n\nbefore\n") and text.endswith("after\n")
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not report.update_readme(plain, out) and plain.read_text() == "no markers\n"
