"""The notebooks read well in JupyterLab (jupyterlab-myst) as well as in the book.

JupyterLab renders MyST but not myst-nb's glue roles, and it shows every cell of
a gated solution. So the sources must quote numbers through hidden-input code
cells that display Markdown, draw diagrams with plain ```mermaid fences, and keep
solutions and quiz answers collapsed in both. The checks live in tools.nbchecks
(the chapter scaffold, `make chapter`, writes a chapter that passes them); each
message says what to change, in the chapter's `.md` text source, then
`make outputs NB=...`.
"""

from __future__ import annotations

import nbformat
import pytest

from tools.nbchecks import (
    PROSE_MARK,
    ROOT,
    SOLUTION_CODE_MARK,
    SOLUTION_TEXT_MARK,
    lab_problems,
    mermaid_problems,
    prose_problems,
    quiz_problems,
    read,
    solution_problems,
)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_quotes_numbers_that_jupyterlab_can_show(path):
    assert prose_problems(read(path)) == [], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_diagrams_are_plain_mermaid_fences(path):
    markdown = [c.source for c in read(path).cells if c.cell_type == "markdown"]
    assert mermaid_problems("\n".join(markdown)) == [], path.name


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_book_pages_draw_plain_mermaid_fences(path):
    assert mermaid_problems(path.read_text()) == [], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_stay_collapsed_in_the_book_and_in_lab(path):
    assert solution_problems(read(path)) == [], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_quiz_answers_are_collapsed(path):
    assert quiz_problems(read(path)) == [], path.name


def _chapter(*, glue=False, mermaid_directive=False, open_solution=False, quiz=True):
    """A small chapter in the course's form, with one chosen fault."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    prose = code(
        f"{PROSE_MARK}\ndisplay(Markdown(f\"It costs {{facts['x']}}.\"))",
        metadata={"tags": ["remove-input"], "jupyter": {"source_hidden": True}},
    )
    fold = {"jupyter": {"source_hidden": True, "outputs_hidden": True}}
    cells = [
        md("# 1. A chapter"),
        code('facts = {"x": 2.5}'),
        md("Costs {glue:text}`x`.") if glue else prose,
        md(("```{mermaid}" if mermaid_directive else "```mermaid") + "\nA --> B\n```"),
    ]
    for n in (1, 2):
        cells += [
            md(f"```{{exercise}}\n:label: ex-{n}\n\nDo it.\n```"),
            md(
                f"```{{solution-start}} ex-{n}\n"
                + ("" if open_solution else ":class: dropdown\n")
                + "```"
            ),
            code(f"{SOLUTION_CODE_MARK}\nprint(1)", metadata=fold),
            md(
                f"{SOLUTION_TEXT_MARK}\n\nBecause.\n\n```{{solution-end}}\n```",
                metadata={"jupyter": {"source_hidden": True}},
            ),
        ]
    if quiz:
        cells.append(
            md(
                "## Check yourself\n\n```{dropdown} Why?\nBecause.\n```\n\n"
                ":::{dropdown} Why `x`?\nBecause.\n:::"
            )
        )
    return nbformat.v4.new_notebook(cells=cells)


def test_the_checks_accept_the_course_form_and_name_each_fault():
    assert lab_problems(_chapter()) == []
    faults = {
        "glue roles": _chapter(glue=True),
        "{mermaid} directive": _chapter(mermaid_directive=True),
        "without :class: dropdown": _chapter(open_solution=True),
        "no 'Check yourself'": _chapter(quiz=False),
    }
    for words, nb in faults.items():
        problems = lab_problems(nb)
        assert problems and all(words in p for p in problems), (words, problems)


def test_a_prose_cell_must_be_hidden_and_show_markdown_once_executed():
    nb = _chapter()
    prose = nb.cells[2]
    assert prose_problems(nb) == []
    prose.execution_count, prose.outputs = 3, []
    assert prose_problems(nb) == ["prose cell 2 has no stored Markdown output"]
    prose.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/markdown": "It costs 2.5.", "text/plain": ""}
        )
    ]
    assert prose_problems(nb) == []
    prose.metadata = {}
    assert prose_problems(nb) == [
        "cell 2 writes prose: tag it remove-input (book) and set "
        "jupyter.source_hidden (Lab)"
    ]


def test_a_solution_cell_shown_in_lab_is_named():
    nb = _chapter()
    nb.cells[6].metadata = {}  # the first solution's code cell
    assert solution_problems(nb) == [
        "cell 6 inside a solution is shown in JupyterLab",
        "cell 6 inside a solution shows its outputs in Lab",
    ]


def test_an_answer_outside_a_dropdown_is_named():
    nb = _chapter()
    nb.cells[-1].source += "\n\nThe answer, in plain sight."
    (problem,) = quiz_problems(nb)
    assert "outside a dropdown" in problem and "plain sight" in problem
