"""Build the example notebooks (``NN_*.ipynb``) from their jupytext sources (``NN_*.py``).

The ``.py`` files (jupytext "percent" format) are the sources to edit; the ``.ipynb`` files are
generated, executed, and committed so they render with their outputs. Run from the repository
root::

    python examples/make_notebooks.py            # rebuild and execute every notebook
    python examples/make_notebooks.py --no-run   # rebuild without executing
    python examples/make_notebooks.py 01 03      # only the notebooks whose names start so
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


@contextlib.contextmanager
def this_interpreter_kernel() -> Iterator[str]:
    """A kernel spec that runs *this* Python (the one with the package installed).

    A user-level ``python3`` kernel spec may point at another interpreter and would shadow the
    virtual environment's own; a uniquely named spec on ``JUPYTER_PATH`` cannot.
    """
    name = "spikingjelly-mulfree-examples"
    old = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory() as root:
        spec = Path(root, "kernels", name)
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (spikingjelly-mulfree)", "language": "python",
        }))
        os.environ["JUPYTER_PATH"] = root + (os.pathsep + old if old else "")
        try:
            yield name
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


def sources() -> list[Path]:
    """The notebook sources, in reading order."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def build(source: Path, execute: bool = True, timeout: int = 300) -> nbformat.NotebookNode:
    """Notebook of ``source`` (executed in a scratch copy of ``examples/`` when ``execute``)."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("jupytext", None)
    if execute:
        with this_interpreter_kernel() as kernel:
            NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                           resources={"metadata": {"path": str(HERE)}}).execute()
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for i, cell in enumerate(nb.cells):  # stable ids and no timings: small, readable diffs
        cell.id = f"{source.stem[:2]}-{i:02d}"
        cell.metadata.pop("execution", None)
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-run", action="store_true", help="do not execute the notebooks")
    parser.add_argument("names", nargs="*", help="name prefixes to rebuild (default: all)")
    args = parser.parse_args()
    for source in sources():
        if args.names and not any(source.name.startswith(n) for n in args.names):
            continue
        nb = build(source, execute=not args.no_run)
        target = source.with_suffix(".ipynb")
        nbformat.write(nb, target)
        print(f"wrote {target.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
