"""Sphinx configuration for spikingjelly-mulfree (built with ``-W`` in the test suite)."""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.dirname(HERE))

import spikingjelly_mulfree  # noqa: E402

project = "spikingjelly-mulfree"
author = "spikingjelly-mulfree contributors"
copyright = "2026, spikingjelly-mulfree contributors"
release = spikingjelly_mulfree.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
    "optional_autodoc",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_scripts", "_ext", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options: dict = {}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True

autodoc_inherit_docstrings = False

html_theme = "furo"
html_title = f"spikingjelly-mulfree {release}"
html_static_path = ["_static"]


RESULTS = os.path.join(os.path.dirname(HERE), "benchmarks", "results")

GPU_SECTION = """

## On a GPU

```{{include}} ../benchmarks/results/{dev}/meta.md
```

```{{image}} ../benchmarks/results/{dev}/sweep_T.png
:alt: forward+backward time and memory against T on the GPU
```

```{{image}} ../benchmarks/results/{dev}/sweep_k.png
:alt: forward+backward time and memory against k on the GPU
```

```{{include}} ../benchmarks/results/{dev}/headline.md
```

```{{image}} ../benchmarks/results/{dev}/single_step.png
:alt: single-step inference on the GPU
```

```{{include}} ../benchmarks/results/{dev}/single_step.md
```

The full tables: `benchmarks/results/{dev}/report.md`.
"""


NETWORK_MARKER = "<!-- network-tables -->"
NETWORK_TABLE = """
```{{include}} ../benchmarks/results/{dev}/network.md
```
"""


def _network_tables() -> str:
    """An include of each device's ``network.md`` that exists (each names its device)."""
    tables = [NETWORK_TABLE.format(dev=dev) for dev in ("cpu", "cuda")
              if os.path.exists(os.path.join(RESULTS, dev, "network.md"))]
    return "".join(tables) or "No results yet: run one of the commands above."


def _adapt_pages(app, docname: str, source: list[str]) -> None:
    """Pages that follow what exists: the energy page (written separately) is listed once it
    exists; the benchmarks page gains a GPU section once the report has been run on one, and
    shows the network table of each device it has been run on."""
    if docname == "index" and not os.path.exists(os.path.join(HERE, "energy.md")):
        source[0] = source[0].replace("\nenergy\n", "\n")
    if docname == "benchmarks" and os.path.exists(os.path.join(RESULTS, "cuda", "meta.md")):
        source[0] += GPU_SECTION.format(dev="cuda")
    if docname == "benchmarks":
        source[0] = source[0].replace(NETWORK_MARKER, _network_tables())


def setup(app) -> None:
    app.connect("source-read", _adapt_pages)
