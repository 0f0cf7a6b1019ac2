"""Every exercise has a check: after its solution, a cell calls it, and it passed.

The stored output of each ``exercise-check`` cell is the check's verdict on the
executed solution, and nbval compares it on every run, so a solution that stops
passing its own check fails the harness. Each check's behaviour on wrong
answers is tested in ``tests/test_exercises_<chapter>.py``.
"""

from __future__ import annotations

import importlib
import re

import nbformat
import pytest

from mlops_course.exercises import REGISTRY
from tools.nbchecks import ROOT, exercise_check_problems, exercise_labels, read

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def chapter_of(path) -> str:
    """``01_notebook_model`` -> ``ch01``; ``01_pytorch_basics`` -> ``ch01b``."""
    labels = exercise_labels(read(path))
    return "ch" + labels[0].split("-")[1] if labels else ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_is_followed_by_its_passing_check(path):
    assert exercise_check_problems(read(path)) == [], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_label_has_a_registered_check_tested_on_wrong_answers(path):
    chapter = chapter_of(path)
    module = importlib.import_module(f"mlops_course.exercises.{chapter}")
    tests = (ROOT / "tests" / f"test_exercises_{chapter}.py").read_text()
    for label in exercise_labels(read(path)):
        assert label in REGISTRY, f"{path.name}: {label} has no check"
        name = REGISTRY[label].__name__
        assert getattr(module, name) is REGISTRY[label], f"{label}: not in {chapter}"
        calls = len(re.findall(rf"\b{chapter}\.{name}\(", tests))
        assert calls >= 2, (
            f"{label}: test {chapter}.{name} on a right and a wrong answer"
        )


def _notebook(*, verdict="✅", tag=True, hidden=False):
    check = nbformat.v4.new_code_cell(
        "checks.answer(x)",
        metadata={"tags": ["exercise-check"] if tag else []},
        outputs=[
            nbformat.v4.new_output(
                "execute_result", {"text/plain": f"{verdict} ex-99-1: message"}
            )
        ],
    )
    if hidden:
        check.metadata["jupyter"] = {"source_hidden": True}
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "```{exercise}\n:label: ex-99-1\n\nDo it.\n```"
            ),
            nbformat.v4.new_markdown_cell("```{solution-start} ex-99-1\n```"),
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
            check,
        ]
    )


def test_the_cell_check_accepts_a_passing_check():
    assert exercise_labels(_notebook()) == ["ex-99-1"]
    assert exercise_check_problems(_notebook()) == []


@pytest.mark.parametrize(
    ("notebook", "problem"),
    [
        (
            _notebook(tag=False),
            "ex-99-1: no cell tagged exercise-check after its solution",
        ),
        (
            _notebook(verdict="❌"),
            "ex-99-1: the stored check output is not '✅ ex-99-1: ...'",
        ),
        (_notebook(hidden=True), "ex-99-1: the exercise-check cell is hidden in Lab"),
    ],
)
def test_the_cell_check_refuses_a_missing_failing_or_hidden_check(notebook, problem):
    assert problem in exercise_check_problems(notebook)
