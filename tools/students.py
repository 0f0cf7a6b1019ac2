"""Student notebooks: each chapter, its solutions replaced by stubs (`make students`).

    python -m tools.students                 # every chapter in _toc.yml
    python -m tools.students notebooks/01_notebook_model.ipynb
    python -m tools.students --check         # exit 1 if a file is stale or extra

For every chapter the book lists, ``student/NN_slug.ipynb`` holds the
same cells as the chapter, without outputs, except that each solution (from
the Markdown cell holding ``{solution-start} ex-NN-k`` through the cell holding
``{solution-end}``) becomes ONE code cell, the stub: for each positional
argument of the ``checks.<name>(...)`` call in the ``exercise-check`` cell that
follows, ``name = ...  # your answer``. The check cell stays, so the learner
replaces each ``...`` and runs it; on ``...`` the check answers "⏳ not
answered yet", so the whole student notebook runs. An exercise without a check
cell gets a comment cell ("# Your solution here.").

The files are generated, never edited by hand: the solution is written once, in
the chapter, and executed there (the scikit-learn MOOC makes its exercises the
same way). The output is deterministic (same chapter, same bytes), and
tests/test_students.py fails when a file is not what this module writes from
its chapter, or when a student notebook has no chapter in the toc.
"""

from __future__ import annotations

import argparse
import ast
import copy
import posixpath
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from tools.nbchecks import CHECK_TAG, ROOT, read, tags, toc_notebooks

FOLDER = "student"  # beside notebooks/, at the repository's root
SOLUTION_START = re.compile(r"\{solution-start\}[ \t]*([\w-]*)")
NO_CHECK_STUB = "# Your solution here."
#: A Markdown link, image or HTML src/href whose target is a relative path.
RELATIVE_LINK = re.compile(
    r"""(?P<lead>\]\(|\b(?:src|href)=["'])(?P<target>(?![a-z][a-z0-9+.-]*:|[#/])[^)"'\s]+)""",
    re.IGNORECASE,
)


class StubError(ValueError):
    """A check call the generator cannot turn into a stub (named in the message)."""


def student_path(chapter: Path) -> Path:
    """Where the student version of ``notebooks/NN_slug.ipynb`` is written.

    Beside ``notebooks/``, not inside it: at the same depth, so the chapters'
    relative links to ``../book/...`` hold as they are, and ``notebooks/`` holds
    only the chapters the book lists.
    """
    return chapter.parent.parent / FOLDER / chapter.name


def answer_names(source: str, label: str = "") -> list[str]:
    """The positional arguments of the one ``checks.<name>(...)`` call in ``source``.

    They are the learner's answers, so each must be a plain name the stub can
    define; keyword arguments are the chapter's context and are left alone.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise StubError(f"{label}: the check cell is not Python: {error}") from None
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "checks"
    ]
    if len(calls) != 1:
        raise StubError(f"{label}: the check cell must make one checks.<name>() call")
    names = []
    for arg in calls[0].args:
        if not isinstance(arg, ast.Name):
            raise StubError(
                f"{label}: the check's positional argument `{ast.unparse(arg)}` is "
                "not a plain name: assign the answer to a name in the solution and "
                "pass that name, so the student notebook can stub it"
            )
        if arg.id not in names:
            names.append(arg.id)
    return names


def stub_source(label: str, names: list[str]) -> str:
    """The code a learner completes in place of the solution."""
    if not names:
        return NO_CHECK_STUB
    lines = [f"# {label}: replace each `...` with your answer, then run the check."]
    lines += [f"{name} = ...  # your answer" for name in names]
    return "\n".join(lines)


def relink(markdown: str) -> str:
    """Relative links of a chapter's Markdown, pointed from ``student/`` instead."""
    return RELATIVE_LINK.sub(
        lambda m: m["lead"] + posixpath.normpath(f"../notebooks/{m['target']}"),
        markdown,
    )


def banner(chapter: Path) -> nbformat.NotebookNode:
    """The first cell: what this file is, where the full version is."""
    name = chapter.name
    cell = new_markdown_cell(
        "> **Student version.** Each exercise's solution is replaced by a cell for\n"
        "> your answer: replace each `...`, then run the **check** cell below it,\n"
        "> which says whether the answer is right (and if not, why). The full\n"
        "> chapter, with the solutions and every output, is\n"
        f"> [notebooks/{name}](../notebooks/{name}), and the chapter's page in the\n"
        "> book.\n"
        ">\n"
        "> This file is generated from the full chapter by `make students`: do not\n"
        f"> edit it by hand (the chapter's source is `notebooks/{chapter.stem}.md`).\n"
        "> To keep your answers across an update of the course, save your work\n"
        "> under another name."
    )
    cell.id = "student-version"
    return cell


def _blank(cell) -> nbformat.NotebookNode:
    """A chapter cell as the student gets it: same id, source, metadata; no outputs."""
    kept = copy.deepcopy(cell)
    kept.metadata.pop("execution", None)
    if kept.cell_type == "code":
        kept.outputs = []
        kept.execution_count = None
    elif kept.cell_type == "markdown":
        kept.source = relink(kept.source)
    return kept


def student_notebook(chapter: Path) -> nbformat.NotebookNode:
    """The student version of one chapter notebook."""
    nb = read(chapter)
    cells = [banner(chapter)]
    i = 0
    while i < len(nb.cells):
        cell = nb.cells[i]
        start = (
            SOLUTION_START.search(cell.source) if cell.cell_type == "markdown" else None
        )
        if not start:
            cells.append(_blank(cell))
            i += 1
            continue
        label = start[1] or f"solution-{i}"
        end = next(
            (
                j
                for j in range(i, len(nb.cells))
                if nb.cells[j].cell_type == "markdown"
                and "{solution-end}" in nb.cells[j].source
            ),
            None,
        )
        if end is None:
            raise StubError(f"{chapter.name}: {label}: no {{solution-end}} after it")
        following = nb.cells[end + 1] if end + 1 < len(nb.cells) else None
        checked = following is not None and CHECK_TAG in tags(following)
        names = answer_names(following.source, label) if checked else []
        stub = new_code_cell(stub_source(label, names))
        stub.id = f"student-{label}"
        cells.append(stub)
        i = end + 1
    student = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    student.nbformat_minor = max(nb.nbformat_minor, 5)
    return student


def render(chapter: Path) -> str:
    """The student notebook's file text (deterministic: same chapter, same text)."""
    student = student_notebook(chapter)
    nbformat.validate(student)
    return nbformat.writes(student) + "\n"


def write(chapter: Path) -> Path:
    """Write the student version of ``chapter`` (only when it changed); its path."""
    path = student_path(chapter)
    text = render(chapter)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def chapters() -> list[Path]:
    """The chapter notebooks the book lists (one student version each)."""
    return toc_notebooks()


def problems(listed: list[Path] | None = None, root: Path = ROOT) -> list[str]:
    """Student notebooks that are stale, missing, or without a chapter in the toc."""
    found = []
    listed = chapters() if listed is None else listed
    for chapter in listed:
        path = student_path(chapter)
        rel = path.relative_to(root)
        if not path.is_file():
            found.append(f"{rel} is missing: run `make students`")
        elif path.read_text(encoding="utf-8") != render(chapter):
            found.append(
                f"{rel} is not generated from its chapter: run `make students`"
            )
    expected = {student_path(c) for c in listed}
    folder = root / FOLDER
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        if path not in expected:
            found.append(
                f"{path.relative_to(root)} has no chapter in _toc.yml: remove it "
                "(or run `make students`, which does)"
            )
    return found


def main(argv: list[str] | None = None) -> int:
    """Write the student notebooks (or, with --check, list what is out of date)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every one")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        print("\n".join(found) or "student notebooks up to date")
        return 1 if found else 0
    listed = [c.resolve() for c in chapters()]
    resolved = set(listed)
    # A folder (`make outputs` with no NB= passes notebooks/) means every chapter.
    named = [p for p in args.notebooks if not p.is_dir()]
    everything = len(named) < len(args.notebooks) or not args.notebooks
    targets = listed if everything else [p.resolve() for p in named]
    for chapter in targets:
        if chapter not in resolved:
            print(f"{chapter.name}: not in _toc.yml, so no student version (yet)")
            continue
        print(f"wrote {write(chapter).relative_to(ROOT)}")
    if everything:  # a full run also removes the stale ones
        folder = ROOT / FOLDER
        expected = {student_path(c) for c in listed}
        for path in sorted(folder.glob("*.ipynb")):
            if path not in expected:
                path.unlink()
                print(f"removed {path.relative_to(ROOT)} (no chapter in _toc.yml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
