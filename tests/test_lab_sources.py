"""The notebooks read well in JupyterLab (jupyterlab-myst) as well as in the book.

JupyterLab renders MyST but not myst-nb's glue roles, and it shows every cell of
a gated solution. So the sources must quote numbers through hidden-input code
cells that display Markdown, draw diagrams with plain ```mermaid fences, and keep
solutions and quiz answers collapsed in both. `tools/lab_ready.py` converts a
notebook to this form; these checks keep it that way.
"""

from __future__ import annotations

import re
from pathlib import Path

import IPython.display
import nbformat
import pytest

from tools import lab_ready
from tools.nbchecks import ROOT, read

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))

GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`")
MERMAID_DIRECTIVE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*\{mermaid\}", re.M)
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\{[\w-]+\})?(.*)$")
QUIZ_HEADING = re.compile(r"^#{2,3}\s+(check yourself|quiz)\b", re.I | re.M)


def fix(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return f"\nrun `.venv/bin/python tools/lab_ready.py {rel}`" + (
        f" then `make outputs NB={rel}`" if path.suffix == ".ipynb" else ""
    )


def directives(text: str) -> list[tuple[str, list[str]]]:
    """Top-level fenced blocks of a Markdown text: (name or language, option lines)."""
    found: list[tuple[str, list[str]]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, name = m.group(1), m.group(2) or m.group(3).strip()
        options = []
        i += 1
        while i < len(lines) and re.match(r"^\s*:[\w-]+:", lines[i]):
            options.append(lines[i].strip())
            i += 1
        while i < len(lines) and lines[i].strip() != fence:
            i += 1
        found.append((name, options))
        i += 1
    return found


def collapsed(options: list[str]) -> bool:
    return any(o.startswith(":class:") and "dropdown" in o.split() for o in options)


def hidden(cell, what: str = "source_hidden") -> bool:
    return bool(cell.get("metadata", {}).get("jupyter", {}).get(what))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_quotes_numbers_that_jupyterlab_can_show(path):
    nb = read(path)
    roles = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and GLUE_ROLE.search(c.source)
    ]
    assert not roles, (
        f"{path.name}: cells {roles} quote myst-nb glue roles, which JupyterLab "
        f"shows raw (the glue name instead of the number){fix(path)}"
    )
    glue_calls = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and re.search(r"\bglue\(|import glue\b", c.source)
    ]
    assert not glue_calls, f"{path.name}: glue() left in cells {glue_calls}{fix(path)}"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "Markdown(" not in cell.source:
            continue
        assert "remove-input" in cell.metadata.get("tags", []) and hidden(cell), (
            f"{path.name}: cell {i} writes prose: tag it remove-input (book) and "
            f"set jupyter.source_hidden (Lab){fix(path)}"
        )
        assert any("text/markdown" in o.get("data", {}) for o in cell.outputs), (
            f"{path.name}: prose cell {i} has no stored Markdown output: "
            f"make outputs NB={path.relative_to(ROOT)}"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_diagrams_are_plain_mermaid_fences(path):
    bad = [
        i
        for i, c in enumerate(read(path).cells)
        if c.cell_type == "markdown" and MERMAID_DIRECTIVE.search(c.source)
    ]
    assert not bad, (
        f"{path.name}: cells {bad} use the {{mermaid}} directive; a plain ```mermaid "
        f"fence renders in JupyterLab and, with myst_fence_as_directive, in the "
        f"book{fix(path)}"
    )


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_book_pages_draw_plain_mermaid_fences(path):
    assert not MERMAID_DIRECTIVE.search(path.read_text()), (
        f"{path.name} uses the {{mermaid}} directive{fix(path)}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_stay_collapsed_in_the_book_and_in_lab(path):
    nb = read(path)
    problems: list[str] = []
    inside = False
    n_solutions = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for name, options in directives(cell.source):
                if name in ("{solution}", "{solution-start}"):
                    n_solutions += 1
                    if not collapsed(options):
                        problems.append(f"cell {i}: {name} without :class: dropdown")
                    if name == "{solution-start}":
                        inside = True
                        break
            else:
                if not inside:
                    continue
        if not inside or "{solution-start}" in cell.source:
            continue
        if not hidden(cell):
            problems.append(f"cell {i} inside a solution is shown in JupyterLab")
        if cell.cell_type == "code" and not hidden(cell, "outputs_hidden"):
            problems.append(f"cell {i} inside a solution shows its outputs in Lab")
        if cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            inside = False
    assert n_solutions >= 2, f"{path.name}: a chapter has at least two solutions"
    assert not inside, f"{path.name}: a {{solution-start}} is never closed"
    assert not problems, f"{path.name}: " + "; ".join(problems) + fix(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_quiz_answers_are_collapsed(path):
    cells = read(path).cells
    start = next(
        (
            i
            for i, c in enumerate(cells)
            if c.cell_type == "markdown" and QUIZ_HEADING.search(c.source)
        ),
        None,
    )
    assert start is not None, f"{path.name}: no 'Check yourself' quiz section"
    text = ""
    for cell in cells[start:]:
        if cell.cell_type != "markdown":
            break
        body = cell.source
        if cell is cells[start]:
            body = body[QUIZ_HEADING.search(body).end() :]
        elif re.match(r"^#{1,2}\s", body):
            break
        text += "\n\n" + body
    blocks = directives(text)
    assert blocks, f"{path.name}: the quiz has no questions"
    open_answers = [
        name
        for name, options in blocks
        if name != "{dropdown}" and not collapsed(options)
    ]
    assert not open_answers, (
        f"{path.name}: quiz blocks {open_answers} show their answer: use "
        f"{{dropdown}} or :class: dropdown"
    )
    # no answer outside a dropdown: after the first question, only directives
    first = min(text.find(line) for line in text.split("\n") if FENCE.match(line))
    outside = re.sub(r"(?ms)^\s*(`{3,}|:{3,})\s*\{.*?^\s*\1\s*$", "", text[first:])
    assert not outside.strip(), (
        f"{path.name}: quiz text outside a dropdown: {outside.strip()[:120]!r}"
    )


def _index(cells, cell) -> int:
    return next(i for i, c in enumerate(cells) if c is cell)


def test_lab_ready_converts_a_chapter_and_is_idempotent(tmp_path, monkeypatch):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# A chapter"),
        code("import math\n\nfrom myst_nb import glue"),
        md("Costs {glue:text}`later:.2f` in `{braces}`.\n\n## Next section"),
        code('x = math.sqrt(6.25)\nglue("later", x, display=False)'),
        md("```{mermaid}\nflowchart LR\n  A --> B\n```"),
        md("```{exercise}\n:label: ex-t\n\nDo it.\n```"),
        md("```{solution-start} ex-t\n```"),
        code("print(x)"),
        md("Because.\n\n```{solution-end}\n```"),
        code('# NBVAL_IGNORE_OUTPUT\nglue("wall", f"{x:.1f}", display=False)'),
        md("Took {glue:text}`wall` s.\n\n## Then\n\nStill {glue:text}`later`."),
    ]
    path = tmp_path / "01_test.ipynb"
    nbformat.write(nb, path)
    tool = lab_ready
    assert tool.convert_notebook(path) is True
    cells = read(path).cells
    sources = [c.source for c in cells]
    assert not any(GLUE_ROLE.search(s) or "glue(" in s for s in sources)
    prose = next(c for c in cells if "Markdown(" in c.source)
    assert all(
        "remove-input" in c.metadata["tags"] and hidden(c)
        for c in cells
        if "Markdown(" in c.source
    )
    # the paragraph now follows the cell that computes its number
    defining = next(i for i, s in enumerate(sources) if 'facts["later"] = x' in s)
    assert cells[defining + 1] is prose
    # running the cells in order prints the number, formatted as the role asked
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    namespace: dict = {}
    for cell in cells:
        if cell.cell_type == "code":
            exec(cell.source, namespace)
    assert shown == [
        "\nCosts 2.50 in `{braces}`.\n",
        "\nTook 2.5 s.\n",
        "\nStill 2.5.\n",
    ]
    # a heading splits prose in two; a volatile number is not compared by nbval
    assert [c.cell_type for c in cells[-3:]] == ["code", "markdown", "code"]
    assert cells[-2].source == "## Then"
    assert "nbval-ignore-output" in cells[-3].metadata["tags"]
    assert "nbval-ignore-output" not in cells[-1].metadata["tags"]
    assert "```mermaid\nflowchart LR" in sources[sources.index(prose.source) + 1]
    start = next(c for c in cells if "{solution-start}" in c.source)
    assert ":class: dropdown" in start.source
    first = _index(cells, start) + 1
    end = next(i for i, c in enumerate(cells) if "{solution-end}" in c.source)
    inside = cells[first : end + 1]
    assert len(inside) == 2 and all(hidden(c) for c in inside)
    assert not any(hidden(c) for c in cells[:first] if "Markdown(" not in c.source)
    assert hidden(inside[0], "outputs_hidden")
    assert inside[0].source.startswith("# Solution code")
    # a second run changes nothing
    before = path.read_text()
    assert tool.convert_notebook(path) is False and path.read_text() == before
    assert tool.main(["--check", str(path)]) == 0
