"""The exercise-check plumbing: verdicts, unanswered answers, the registry."""

import pytest

from mlops_course.exercises import REGISTRY, Feedback, exercise, expect, expect_type


@exercise("ex-test-1")
def _positive(answer, *, floor=0) -> str:
    expect_type(answer, int, "a whole number")
    expect(answer > floor, f"{answer} is not above {floor}")
    return "above the floor"


def test_a_right_answer_says_why():
    fb = _positive(3)
    assert fb == Feedback("ex-test-1", True, "above the floor")
    assert str(fb) == "✅ ex-test-1: above the floor"


def test_a_wrong_answer_says_what_is_wrong_without_raising():
    assert _positive(-1).ok is False
    assert _positive(-1).message == "-1 is not above 0"
    assert _positive(5, floor=9).message == "5 is not above 9"


def test_an_answer_of_the_wrong_kind_names_the_kind_expected():
    fb = _positive("3")
    assert (fb.ok, fb.message) == (False, "expected a whole number, got str")


def test_an_answer_left_as_ellipsis_is_not_answered_yet():
    fb = _positive(...)
    assert fb.ok is None and "not answered" in fb.message
    assert str(fb).startswith("⏳")


def test_a_bug_in_a_check_is_not_hidden_as_a_wrong_answer():
    @exercise("ex-test-2")
    def broken(answer) -> str:
        raise KeyError("a bug, not a verdict")

    with pytest.raises(KeyError):
        broken(1)


def test_a_label_has_one_check():
    with pytest.raises(ValueError, match="ex-test-1 already has a check"):
        exercise("ex-test-1")(lambda answer: "")


def test_the_html_shows_the_verdict_and_escapes_the_message():
    assert "&lt;b&gt;" in Feedback("ex-x", False, "<b>")._repr_html_()
    assert "❌" in Feedback("ex-x", False, "m")._repr_html_()


def test_registry_holds_checks_by_label():
    assert REGISTRY["ex-test-1"] is _positive
