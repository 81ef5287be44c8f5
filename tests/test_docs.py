"""The Sphinx documentation builds with warnings as errors (so it cannot rot)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")
pytest.importorskip("furo")


def _python_blocks(page: str) -> list[str]:
    text = (DOCS.parent / page).read_text(encoding="utf-8")
    return [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]


def test_docs_build_without_warnings(tmp_path):
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for page in ("index", "getting_started", "neuron", "user_guide", "data_training",
                 "kernels", "benchmarks", "api", "changelog"):
        assert (out / f"{page}.html").is_file(), page
    bench = (out / "benchmarks.html").read_text(encoding="utf-8")
    assert "network-tables" not in bench
    if (DOCS.parent / "benchmarks" / "results" / "cpu" / "network.md").is_file():
        assert "cpsn[auto]" in bench
    api = (out / "api.html").read_text(encoding="utf-8")
    assert "quantize_pow2" in api and "effective_kernel" in api


def test_files_referenced_by_the_docs_exist():
    missing = []
    for page in DOCS.glob("*.md"):
        for line in page.read_text(encoding="utf-8").splitlines():
            for marker in ("_static/", "../benchmarks/results/"):
                if marker in line and (".png" in line or line.startswith("```{include}")):
                    ref = line.split("}", 1)[-1].strip() if line.startswith("```{") else \
                        marker + line.split(marker, 1)[1].split(".png", 1)[0] + ".png"
                    if not (DOCS / ref).is_file():
                        missing.append(f"{page.name}: {ref}")
    assert not missing, missing


@pytest.mark.parametrize("page", ["README.md", "docs/getting_started.md"])
def test_python_examples_in_the_pages_run(page):
    blocks = _python_blocks(page)
    assert blocks, f"{page} has no python example"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, page, "exec"), namespace)
        assert "net" in namespace


def test_user_guide_examples_run_in_order():
    # the guide's blocks build on each other, so they run top to bottom in one namespace; the
    # names it leaves to the reader (a stream of sequences, a trained neuron and its input)
    # are filled in here. (The GPU-only example, CUDA graphs, is a code-block directive, which
    # this test does not run: tests/neuron/test_cpsn_cuda_graphs.py runs its content on a GPU.)
    import torch

    from spikingjelly_mulfree import CPSN

    trained = CPSN(4, k=2)
    x = torch.rand(8, 2, 4)
    trained(x)
    namespace = {"stream": [torch.zeros(2, 1, 3, 32, 32)], "trained_cpsn": trained, "x": x}
    blocks = _python_blocks("docs/user_guide.md")
    assert len(blocks) >= 7
    for block in blocks:
        exec(compile(block, "docs/user_guide.md", "exec"), namespace)
    assert namespace["out_t"].shape == (1, 100)  # the step-mode loop ran the ResNet
    assert namespace["spikes"].shape == x.shape  # the integer neuron ran
    assert set(namespace["spikes"].unique().tolist()) <= {0, 1}


def test_energy_example_runs():
    namespace: dict = {}
    for block in _python_blocks("docs/energy.md"):
        exec(compile(block, "docs/energy.md", "exec"), namespace)
    assert namespace["report"].total("shift", "neuron") > 0


def test_receptive_field_figure_script(tmp_path):
    import importlib.util

    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location(
        "receptive_field_figure", DOCS / "_scripts" / "receptive_field.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows, _ = module.cone(8, 2, [1, 1, 1])
    assert rows[0] == {4, 5, 6, 7}
    rows, _ = module.cone(8, 2, [1, 2, 3])
    assert rows[0] == {1, 2, 3, 4, 5, 6, 7}
    module.OUT = tmp_path / "receptive_field.png"
    assert module.main().read_bytes()[:4] == b"\x89PNG"
