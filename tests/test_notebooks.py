"""Every example notebook runs top to bottom, and matches its jupytext source."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SOURCES = sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))


@pytest.fixture(scope="module")
def kernel_name():
    """Run the notebooks in this interpreter, whatever ``python3`` kernel the user has."""
    spec = importlib.util.spec_from_file_location("make_notebooks", EXAMPLES / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.this_interpreter_kernel() as name:
        yield name


def _code(nb) -> list[str]:
    return [cell.source.strip() for cell in nb.cells if cell.cell_type == "code"]


def test_there_are_notebooks():
    assert len(SOURCES) >= 4
    assert all(src.with_suffix(".ipynb").is_file() for src in SOURCES), (
        "run: python examples/make_notebooks.py"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_source(source):
    committed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert _code(committed) == _code(jupytext.read(source)), (
        f"{source.name} changed: run python examples/make_notebooks.py"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_executes(source, tmp_path, kernel_name):
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name=kernel_name, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors
    assert any(cell.outputs for cell in nb.cells if cell.cell_type == "code")
