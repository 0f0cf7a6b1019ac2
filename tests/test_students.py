"""Student notebooks (tools/students.py): generated from the chapters, never stale.

Each chapter in the toc has ``notebooks/student/NN_slug.ipynb``: its cells
without outputs, each solution replaced by a stub that names the check's
answers. The files must be exactly what the generator writes today (so nobody
edits them by hand and nobody forgets to regenerate them), and no student
notebook may outlive its chapter. Chapter 1's student version is executed with
papermill at CI parameters, like a chapter in the harness; for the others the
structural test stands: every cell outside the solutions is the chapter's own,
and the chapter itself runs in the harness.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tools import students
from tools.nbchecks import (
    CELL_TIMEOUT_S,
    CHECK_TAG,
    KERNELSPEC,
    ROOT,
    ci_parameters,
    exercise_labels,
    output_problems,
    read,
    tags,
    toc_notebooks,
)

CHAPTERS = toc_notebooks()
HIDDEN = {"jupyter": {"source_hidden": True}}


# ------------------------------------------------------------------ in sync


def test_every_chapter_has_its_student_notebook_as_generated_today():
    assert students.problems() == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_regenerating_gives_the_same_bytes(chapter):
    stored = students.student_path(chapter).read_bytes()
    assert students.render(chapter).encode() == stored
    assert students.render(chapter) == students.render(chapter)


def test_a_stale_missing_or_orphaned_student_notebook_is_named(tmp_path):
    chapter = _write(tmp_path, _chapter())
    folder = tmp_path / "student"
    assert students.problems([chapter], tmp_path) == [
        "student/99_synthetic.ipynb is missing: run `make students`"
    ]
    students.write(chapter)
    assert students.problems([chapter], tmp_path) == []
    path = students.student_path(chapter)
    path.write_text(path.read_text().replace("# your answer", "# edited"))
    orphan = folder / "98_removed.ipynb"
    orphan.write_text("{}")
    assert students.problems([chapter], tmp_path) == [
        "student/99_synthetic.ipynb is not generated from its chapter: "
        "run `make students`",
        "student/98_removed.ipynb has no chapter in _toc.yml: remove it "
        "(or run `make students`, which does)",
    ]


# ------------------------------------------------------- what a stub holds


def _chapter(*, check="checks.answer(x, y, context=z)", second_check=False):
    """A chapter with two exercises: the first checked, the second not (optional)."""
    md, code = new_markdown_cell, new_code_cell
    cells = [
        md(
            "# 99. Synthetic\n\n![a figure](../book/images/figure.png)"
            " after [chapter 1](01_notebook_model.ipynb#recap)"
        ),
        code("z = 41", metadata={"tags": ["parameters"]}),
        code("from mlops_course.exercises import ch01 as checks"),
        md("```{exercise}\n:label: ex-99-1\n\nFind x and y.\n```"),
        md("```{solution-start} ex-99-1\n:class: dropdown\n```"),
        code("x, y = secret_solution(z)", metadata=HIDDEN),
        md("Solution prose: the secret is 42.\n\n```{solution-end}\n```"),
        code(check, metadata={"tags": [CHECK_TAG]}),
        md("```{exercise}\n:label: ex-99-2\n\nAnother.\n```"),
        md("```{solution-start} ex-99-2\n:class: dropdown\n```"),
        code("other_secret = 2"),
        md("```{solution-end}\n```"),
        md("## Check yourself\n\n[The site](https://example.org), [recap](#recap)."),
    ]
    if second_check:
        cells.insert(12, code("checks.more(w)", metadata={"tags": [CHECK_TAG]}))
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i}"
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="an output\n")]
            cell.execution_count = i
    return new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC)})


def _write(root: Path, nb) -> Path:
    (root / "notebooks").mkdir(exist_ok=True)
    path = root / "notebooks" / "99_synthetic.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_solution_becomes_one_stub_naming_the_checks_positional_answers(tmp_path):
    student = students.student_notebook(_write(tmp_path, _chapter()))
    text = nbformat.writes(student)
    assert "secret_solution" not in text and "the secret is 42" not in text
    assert "solution-start" not in text and "other_secret" not in text
    stub = next(c for c in student.cells if c.id == "student-ex-99-1")
    assert stub.cell_type == "code"
    assert stub.source == (
        "# ex-99-1: replace each `...` with your answer, then run the check.\n"
        "x = ...  # your answer\n"
        "y = ...  # your answer"
    )
    assert "z =" not in stub.source  # a keyword argument is the chapter's context
    after = student.cells[student.cells.index(stub) + 1]
    assert after.source == "checks.answer(x, y, context=z)" and after.id == "cell-7"
    unchecked = next(c for c in student.cells if c.id == "student-ex-99-2")
    assert unchecked.source == "# Your solution here."
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in student.cells
        if c.cell_type == "code"
    )


def test_the_student_notebook_keeps_every_other_cell_and_says_what_it_is(tmp_path):
    chapter = _write(tmp_path, _chapter())
    student = students.student_notebook(chapter)
    first = student.cells[0]
    assert first.cell_type == "markdown" and first.id == "student-version"
    assert "[notebooks/99_synthetic.ipynb](../notebooks/99_synthetic.ipynb)" in (
        first.source
    )
    assert "`make students`" in first.source and "do not" in first.source
    ids = [c.id for c in student.cells]
    assert ids == [
        "student-version",
        *[f"cell-{i}" for i in range(4)],
        "student-ex-99-1",
        "cell-7",
        "cell-8",
        "student-ex-99-2",
        "cell-12",
    ]
    assert student.metadata == read(chapter).metadata
    # Relative links are pointed from student/, beside notebooks/: a sibling
    # chapter is reached in notebooks/; absolute URLs and anchors are left alone.
    assert "](../book/images/figure.png)" in student.cells[1].source
    assert "](../notebooks/01_notebook_model.ipynb#recap)" in student.cells[1].source
    assert student.cells[-1].source.endswith(
        "[The site](https://example.org), [recap](#recap)."
    )
    assert tags(student.cells[2]) == ["parameters"]


def test_a_check_whose_answer_is_not_a_plain_name_is_refused(tmp_path):
    chapter = _write(tmp_path, _chapter(check='checks.answer(fitted["model"])'))
    with pytest.raises(students.StubError, match=r"ex-99-1: .*`fitted\['model'\]`"):
        students.student_notebook(chapter)
    assert students.answer_names("checks.a(m, m, n, k=1)") == ["m", "n"]
    with pytest.raises(students.StubError, match="one checks.<name>"):
        students.answer_names("print(1)", "ex-99-1")


def test_the_generator_rewrites_a_file_only_when_it_changed(tmp_path):
    chapter = _write(tmp_path, _chapter())
    path = students.write(chapter)
    mtime = path.stat().st_mtime_ns
    assert students.write(chapter) == path and path.stat().st_mtime_ns == mtime
    assert path.read_text().endswith("}\n")
    nbformat.validate(read(path))


# ------------------------------------------------------------ the real chapters


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_cells_are_the_chapters_outside_the_solutions(chapter):
    solution, student = read(chapter), read(students.student_path(chapter))
    kept = [c for c in student.cells[1:] if not c.id.startswith("student-")]
    stubs = [c for c in student.cells if c.id.startswith("student-ex-")]
    inside, outside = False, []
    for cell in solution.cells:
        if cell.cell_type == "markdown" and "{solution-start}" in cell.source:
            inside = True
        if not inside:
            outside.append(cell)
        if cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            inside = False
    assert [c.id for c in kept] == [c.id for c in outside]
    for ours, theirs in zip(kept, outside, strict=True):
        assert ours.cell_type == theirs.cell_type and ours.metadata == theirs.metadata
        expected = theirs.source
        if theirs.cell_type == "markdown":
            expected = students.relink(expected)
        assert ours.source == expected, ours.id
    assert [c.id for c in stubs] == [f"student-{x}" for x in exercise_labels(solution)]
    first = next(i for i, c in enumerate(solution.cells) if "{exercise}" in c.source)
    before = [c.source for c in solution.cells[:first] if c.cell_type == "code"]
    assert [c.source for c in kept if c.cell_type == "code"][: len(before)] == before


RELATIVE_TARGET = re.compile(r"\]\(((?![a-z][a-z0-9+.-]*:|[#/])[^)\s]+)\)")


def test_relative_links_in_student_notebooks_still_reach_their_files():
    """Each relative link of a chapter that reaches a file reaches the same file
    from the student version's cell (a sibling chapter, not its student copy)."""
    checked = 0
    for chapter in CHAPTERS:
        student = students.student_path(chapter)
        cells = read(student).cells
        kept = {c.id: c.source for c in cells if c.cell_type == "markdown"}

        def reached(folder: Path, target: str) -> Path:
            return (folder / target.split("#")[0]).resolve()

        for cell in read(chapter).cells:
            if cell.cell_type != "markdown" or cell.id not in kept:
                continue
            theirs = {
                reached(student.parent, t)
                for t in RELATIVE_TARGET.findall(kept[cell.id])
            }
            for target in RELATIVE_TARGET.findall(cell.source):
                if reached(chapter.parent, target).is_file():
                    assert reached(chapter.parent, target) in theirs, (student, target)
                    checked += 1
        (back,) = RELATIVE_TARGET.findall(cells[0].source)  # the banner's link
        assert reached(student.parent, back) == chapter.resolve(), back
        checked += 1
    assert checked >= 3  # chapter 3's screenshots and each banner's link back


@pytest.mark.notebook
@pytest.mark.slow
def test_student_notebook_for_chapter_one_runs_and_checks_say_not_answered():
    """The stubs run: papermill at CI parameters, then each check answers ⏳."""
    import papermill as pm

    chapter = ROOT / "notebooks" / "01_notebook_model.ipynb"
    path = students.student_path(chapter)
    with tempfile.TemporaryDirectory(prefix="papermill-") as tmp:
        executed = Path(tmp) / path.name
        pm.execute_notebook(
            str(path),
            str(executed),
            parameters=ci_parameters(chapter.stem),
            cwd=str(path.parent),
            kernel_name=KERNELSPEC["name"],
            progress_bar=False,
            execution_timeout=CELL_TIMEOUT_S,
        )
        nb = read(executed)
    assert output_problems(nb) == []
    verdicts = [
        "".join(o.get("data", {}).get("text/plain", "") for o in c.outputs)
        for c in nb.cells
        if CHECK_TAG in tags(c)
    ]
    assert verdicts and all(
        v.startswith("⏳ ex-01-") and "not answered yet" in v for v in verdicts
    ), verdicts


# ------------------------------------------------------------------ the book


def test_each_chapter_page_offers_its_student_version():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "student_versions", ROOT / "book" / "_ext" / "student_versions.py"
    )
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    options = {
        "repository_url": "https://github.com/org/course",
        "repository_branch": "v1.2.0",
        "launch_buttons": {
            "binderhub_url": "https://mybinder.org",
            "notebook_interface": "jupyterlab",
        },
    }
    app = SimpleNamespace(
        srcdir=str(ROOT), config=SimpleNamespace(html_theme_options=options)
    )
    context = {"header_buttons": [], "pathto": lambda name, resource=0: f"../{name}"}
    ext._buttons(app, "notebooks/01_notebook_model", "page.html", context, None)
    (group,) = context["header_buttons"]
    urls = [b["url"] for b in group["buttons"]]
    assert urls == [
        "../student/01_notebook_model.ipynb",
        "https://mybinder.org/v2/gh/org/course/v1.2.0"
        "?urlpath=lab/tree/student/01_notebook_model.ipynb",
    ]
    for page in ("book/intro", "notebooks/99_no_such_chapter"):
        context["header_buttons"] = []
        ext._buttons(app, page, "page.html", context, None)
        assert context["header_buttons"] == []


def test_make_outputs_regenerates_the_student_version_it_refreshed():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\noutputs: venv\n", 1)[1].split("\n\n", 1)[0]
    assert "tools.execute $(NB)" in recipe
    assert "tools.students $(NB)" in recipe.split("tools.execute $(NB)", 1)[1]
    assert "\nstudents: venv\n\t$(BIN)/python -m tools.students\n" in makefile
