"""`make chapter` (tools/new_chapter.py) writes a chapter every course check accepts.

The skeleton is a notebook and its paired MyST text source, in the form the
chapters use (facts and hidden prose cells, plain mermaid fences, folded
solutions, dropdown quiz): the checks the repository applies to every chapter
(structure, anti-patterns, the lab-ready sources, the pair, ruff) pass on it as
written, and again once `make outputs` has executed it.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mlops_course.shell import executable
from tools import execute, new_chapter
from tools.nbchecks import (
    GLUE_CALL,
    NOTEBOOK_NAME,
    ROOT,
    anti_pattern_problems,
    chapter_row,
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


def test_skeleton_passes_ruff_with_the_repo_config(chapter):
    path, _ = chapter
    config = str(ROOT / "pyproject.toml")
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [executable("ruff"), *command, "--no-cache", "--config", config, str(path)],
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
def test_skeleton_runs_and_stores_clean_outputs(chapter):
    path, _ = chapter
    execute.execute(path)  # what `make outputs` does
    nb = read(path)
    assert output_problems(nb) == []
    assert course_problems(path) == []  # prose outputs stored, the pair in step
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    prose = [c for c in code if "Markdown(" in c.source]
    shown = [o["data"]["text/markdown"] for c in prose for o in c.outputs]
    assert "The chapter works on 2000 applications" in shown[0]
    assert "steady" in shown[1] and "{" not in "".join(shown)
