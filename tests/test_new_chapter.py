"""`make chapter` (tools/new_chapter.py) writes a chapter every course check accepts.

The skeleton is a notebook and its paired MyST text source, in the form the
chapters use (facts and hidden prose cells, plain mermaid fences, folded
solutions each followed by its exercise check, dropdown quiz), with the chapter's
check module and its tests: the checks the repository applies to every chapter
(structure, anti-patterns, the lab-ready sources, the pair, ruff) pass on it as
written, and again once `make outputs` has executed it, when the exercise-cell
checks of tests/test_exercise_cells.py pass too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from mlops_course.shell import executable
from tools import execute, new_chapter, students
from tools.nbchecks import (
    CHECK_TAG,
    GLUE_CALL,
    NOTEBOOK_NAME,
    ROOT,
    anti_pattern_problems,
    chapter_row,
    exercise_check_problems,
    exercise_labels,
    format_row,
    hidden,
    lab_problems,
    output_problems,
    pair_problems,
    read,
    structure_problems,
    tags,
    text_source,
)


@pytest.fixture
def root(tmp_path):
    """A repository root with the course's pairing settings, and nothing else."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "jupytext.toml", tmp_path / "notebooks")
    return tmp_path


@pytest.fixture
def chapter(root, capsys):
    new_chapter.main(["42", "answer_key", "The answer key", "--root", str(root)])
    return root / "notebooks" / "42_answer_key.ipynb", capsys.readouterr().out


def course_problems(path) -> list[str]:
    """What the repository's checks of a chapter find in one notebook pair."""
    nb = read(path)
    return [
        *structure_problems(nb),
        *anti_pattern_problems(nb),
        *lab_problems(nb),
        *pair_problems(path),
    ]


def test_skeleton_passes_every_check_of_a_chapter(chapter):
    path, printed = chapter
    assert NOTEBOOK_NAME.fullmatch(path.name)
    assert text_source(path).is_file()
    assert course_problems(path) == []
    assert "- file: notebooks/42_answer_key" in printed
    assert format_row(chapter_row(path)) in printed
    assert "42_answer_key:\n  n_rows:" in printed  # the tests/ci_parameters.yml entry


def test_skeleton_is_written_in_the_course_form(chapter):
    path, _ = chapter
    nb = read(path)
    text = text_source(path).read_text()
    for part in (
        "**You will learn to**",
        "**Prerequisites**",
        "## Recap",
        "## Check yourself",
        'ws = workspace.workspace("42_answer_key")',
        "facts = {}",
        "\n```mermaid\n",
        "\n```{dropdown} ",
        "\n:::{dropdown} A question that quotes `code`",
        "```{code-cell} ipython3",
    ):
        assert part in text, f"skeleton lacks {part!r}"
    assert text.count("{exercise}") == 2
    assert text.count("{solution-start}") == text.count("{solution-end}") == 2
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(GLUE_CALL.search(c.source) for c in code)
    prose = [c for c in code if "Markdown(" in c.source]
    assert len(prose) == 2
    assert all("remove-input" in tags(c) and hidden(c) for c in prose)
    assert any("assert " in c.source for c in code), "a claim the chapter asserts"


def test_each_skeleton_exercise_is_followed_by_a_check_the_scaffold_wrote(chapter):
    path, printed = chapter
    nb = read(path)
    module, tests = check_files(path)
    assert "src/mlops_course/exercises/ch42.py" in printed
    assert "from mlops_course.exercises import ch42 as checks" in nb.cells[3].source
    calls = [c.source for c in nb.cells if CHECK_TAG in tags(c)]
    assert calls == [
        "checks.region_rates(by_region, applications=applications)",
        "checks.bigger_sample_rate(bigger_rate, n_rows=n_rows, seed=seed)",
    ]
    # Not executed yet, so only the stored verdicts are missing.
    assert exercise_check_problems(nb) == [
        f"{label}: the stored check output is not '✅ {label}: ...'"
        for label in exercise_labels(nb)
    ]
    for label in exercise_labels(nb):
        assert f'@exercise("{label}")' in module.read_text()
    for name in ("region_rates", "bigger_sample_rate"):  # as test_exercise_cells asks
        assert len(re.findall(rf"\bch42\.{name}\(", tests.read_text())) >= 2
    student = students.student_notebook(path)
    stubs = [c.source for c in student.cells if c.id.startswith("student-ex-")]
    assert [s.splitlines()[1:] for s in stubs] == [
        ["by_region = ...  # your answer"],
        ["bigger_rate = ...  # your answer"],
    ]


@pytest.fixture
def importable(chapter, monkeypatch):
    """The course package with the scaffold's check module, first on the path."""
    path, _ = chapter
    src = path.parents[1] / "src"
    shutil.copytree(
        ROOT / "src" / "mlops_course",
        src / "mlops_course",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    monkeypatch.setenv("PYTHONPATH", str(src))
    return path


@pytest.mark.slow
def test_skeleton_check_tests_pass_on_the_skeleton_checks(importable):
    path = importable
    module, tests = check_files(path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=path.parents[1],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "4 passed" in done.stdout


def check_files(path):
    """The check module and its tests the scaffold wrote beside chapter ``path``."""
    return list(new_chapter.check_files(path.parents[1], path.name[:2]))


def test_skeleton_passes_ruff_with_the_repo_config(chapter):
    path, _ = chapter
    config = str(ROOT / "pyproject.toml")
    files = [str(f) for f in (path, *check_files(path))]
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [executable("ruff"), *command, "--no-cache", "--config", config, *files],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_refuses_to_overwrite_and_rejects_bad_names(chapter, root):
    path, _ = chapter
    text_source(path).rename(root / "kept.md")  # the notebook alone still blocks
    for argv in (
        ["42", "answer_key", "Again"],  # exists
        ["8", "x", "One digit"],
        ["09", "Bad-Slug", "Slug"],
        ["09", "ok", "a | b"],
    ):
        with pytest.raises(SystemExit) as stop:
            new_chapter.main([*argv, "--root", str(root)])
        assert stop.value.code == 2, argv
    (root / "src" / "mlops_course" / "exercises" / "ch44.py").write_text("")
    with pytest.raises(SystemExit):  # and a check module of that number
        new_chapter.main(["44", "checked", "Checked", "--root", str(root)])
    assert not (root / "notebooks" / "44_checked.ipynb").exists()
    (root / "kept.md").rename(root / "notebooks" / "43_text_only.md")
    with pytest.raises(SystemExit):  # so does the text source alone
        new_chapter.main(["43", "text_only", "Text", "--root", str(root)])
    assert not (root / "notebooks" / "43_text_only.ipynb").exists()


def test_refuses_a_root_without_the_pairing_settings(tmp_path):
    with pytest.raises(SystemExit) as stop:
        new_chapter.main(["42", "x", "No pairing", "--root", str(tmp_path)])
    assert stop.value.code == 2
    assert not list(tmp_path.rglob("*.ipynb"))


@pytest.mark.slow
def test_skeleton_runs_and_stores_clean_outputs(importable):
    path = importable  # the kernel imports the scaffold's check module
    execute.execute(path)  # what `make outputs` does
    nb = read(path)
    assert output_problems(nb) == []
    assert course_problems(path) == []  # prose outputs stored, the pair in step
    assert exercise_check_problems(nb) == []  # each check says ✅ on its solution
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    prose = [c for c in code if "Markdown(" in c.source]
    shown = [o["data"]["text/markdown"] for c in prose for o in c.outputs]
    assert "The chapter works on 2000 applications" in shown[0]
    assert "steady" in shown[1] and "{" not in "".join(shown)
