"""`make chapter` (tools/new_chapter.py) writes a notebook the repo's rules accept."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from mlops_course.shell import executable
from tests.nbchecks import (
    NOTEBOOK_NAME,
    ROOT,
    anti_pattern_problems,
    chapter_row,
    format_row,
    output_problems,
    read,
    structure_problems,
)


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def chapter(tmp_path, capsys):
    _tool("new_chapter").main(
        ["42", "answer_key", "The answer key", "--root", str(tmp_path)]
    )
    return tmp_path / "notebooks" / "42_answer_key.ipynb", capsys.readouterr().out


def test_skeleton_follows_the_chapter_pattern(chapter):
    path, printed = chapter
    nb = read(path)
    assert NOTEBOOK_NAME.fullmatch(path.name)
    assert structure_problems(nb) == []
    assert anti_pattern_problems(nb) == []
    text = "\n".join(c.source for c in nb.cells)
    for part in (
        "**You will learn to**",
        "## Recap",
        "## Check yourself",
        "{dropdown}",
    ):
        assert part in text, f"skeleton lacks {part!r}"
    assert text.count("{exercise}") == 2 and text.count("{solution-start}") == 2
    assert 'workspace.workspace("42_answer_key")' in text
    assert "- file: notebooks/42_answer_key" in printed
    assert format_row(chapter_row(path)) in printed


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


def test_refuses_to_overwrite_and_rejects_bad_names(chapter, tmp_path):
    new_chapter = _tool("new_chapter")
    for argv in (
        ["42", "answer_key", "Again"],  # exists
        ["8", "x", "One digit"],
        ["09", "Bad-Slug", "Slug"],
        ["09", "ok", "a | b"],
    ):
        with pytest.raises(SystemExit) as stop:
            new_chapter.main([*argv, "--root", str(tmp_path)])
        assert stop.value.code == 2, argv


@pytest.mark.slow
def test_skeleton_runs_and_stores_clean_outputs(chapter):
    path, _ = chapter
    _tool("execute").execute(path)  # what `make outputs` does
    nb = read(path)
    assert output_problems(nb) == []
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert any("default rate:" in str(c.outputs) for c in code)
