"""``optional-automodule``: autodoc a module only when it can be imported.

Subpackages land at different times; documenting one that is not there yet must not break a
``-W`` build. When the module imports, the directive expands to ``.. automodule::`` with the
same options; otherwise it renders a short note saying the module is not in this build.
"""
from __future__ import annotations

import importlib

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList


class OptionalAutomodule(Directive):
    required_arguments = 1
    has_content = False
    option_spec = {
        "members": directives.unchanged,
        "undoc-members": directives.flag,
        "imported-members": directives.flag,
        "no-index": directives.flag,
        "exclude-members": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            importlib.import_module(name)
        except ImportError:
            note = nodes.note()
            note += nodes.paragraph(
                text=f"{name} is not part of this build yet; this section fills in when it lands."
            )
            return [note]
        lines = [f".. automodule:: {name}"]
        for key, value in self.options.items():
            lines.append(f"   :{key}:" + (f" {value}" if value else ""))
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=f"<optional-automodule {name}>"), 0,
                                container)
        return container.children


def setup(app) -> dict:
    app.add_directive("optional-automodule", OptionalAutomodule)
    return {"version": "1.0", "parallel_read_safe": True}
