"""Chapter 13's exercise checks, on a right answer and on wrong ones."""

import pytest

from mlops_course import data
from mlops_course.exercises import ch13


@pytest.fixture(scope="module")
def reference():
    return data.generate_applications(2_000, seed=13)


def test_unseen_categories_accepts_the_new_purpose(reference):
    novel = data.drift_scenario("new_category", 1_000, seed=14).frame
    unseen = sorted(set(novel["loan_purpose"]) - set(reference["loan_purpose"]))
    fb = ch13.unseen_categories(unseen, reference=reference)
    assert fb.ok is True, fb.message


def test_unseen_categories_refuses_known_or_missing_categories(reference):
    known = sorted(set(reference["loan_purpose"]))[:1]
    fb = ch13.unseen_categories(known + [data.NEW_PURPOSE], reference=reference)
    assert fb.ok is False
    assert f"{known[0]} is in the reference too" in fb.message
    fb = ch13.unseen_categories([], reference=reference)
    assert "your list misses it" in fb.message


def test_calm_false_alarms_accepts_counts_that_fall_with_the_window():
    fb = ch13.calm_false_alarms([5, 3, 5], [0, 0, 1], calm_batches=3)
    assert fb.ok is True, fb.message


def test_calm_false_alarms_refuses_swapped_windows_and_wrong_lengths():
    fb = ch13.calm_false_alarms([0, 0, 1], [5, 3, 5], calm_batches=3)
    assert fb.ok is False
    assert "check which window size is which" in fb.message
    fb = ch13.calm_false_alarms([5, 3], [0, 0], calm_batches=3)
    assert fb.message.startswith("2 counts for the 300 vs 500 windows")
    fb = ch13.calm_false_alarms([5, 3, 50], [0, 0, 0], calm_batches=3)
    assert "cannot be a count of flagged columns" in fb.message
