"""Notebook cells as link targets: a cell tag `evidence-...` becomes a Sphinx label.

The appendix pages (interview answers, mistakes to avoid) cite the cells whose
outputs are their evidence. A cell is named by a tag in its metadata, never by
its position, so inserting or moving cells does not break a citation, and the
tag travels with the cell in JupyterLab too.

myst-nb 1.4 gives a code cell no label of its own (its `name` options apply to
figures in the outputs), so this extension does it: after a notebook is read,
each cell container whose tags include one starting with `evidence-` gets that
tag as its HTML id and is registered as a label of the standard domain, so a
page links to it with ``{ref}`text <evidence-13-detection-table>` ``. An
unknown label is an unresolved reference, which the book's `-W -n` build
turns into an error; a tag used by two cells is reported here as a warning.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

PREFIX = "evidence-"

logger = logging.getLogger(__name__)


def _section_title(node: nodes.Element) -> str:
    """Title of the section holding the cell (the label's default link text)."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.section) and parent.children:
            return parent[0].astext()
        parent = parent.parent
    return ""


def cell_labels(node: nodes.Element) -> list[str]:
    """The `evidence-` tags of a myst-nb cell container (empty for other nodes)."""
    if not isinstance(node, nodes.container) or "nb_element" not in node:
        return []
    metadata = node.get("cell_metadata") or {}
    return [t for t in metadata.get("tags", []) if str(t).startswith(PREFIX)]


def _register(app: Sphinx, doctree: nodes.document) -> None:
    env = app.env
    std = env.get_domain("std")
    for node in doctree.findall(nodes.container):
        for label in cell_labels(node):
            if label != nodes.make_id(label):
                logger.warning(
                    "cell tag %r is not a valid label (lower case, digits, '-')",
                    label,
                    location=(env.docname, None),
                )
                continue
            if label in std.anonlabels:  # this document's own were cleared
                logger.warning(
                    "cell tag %r is already a label in %s",
                    label,
                    std.anonlabels[label][0],
                    location=(env.docname, None),
                )
                continue
            node["ids"].append(label)
            std.anonlabels[label] = (env.docname, label)
            std.labels[label] = (env.docname, label, _section_title(node) or label)


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", _register)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
