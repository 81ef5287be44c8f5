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
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def sources() -> list[Path]:
    """The notebook sources, in reading order."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def build(source: Path, execute: bool = True, timeout: int = 300) -> nbformat.NotebookNode:
    """Notebook of ``source`` (executed in a scratch copy of ``examples/`` when ``execute``)."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("jupytext", None)
    if execute:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
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
