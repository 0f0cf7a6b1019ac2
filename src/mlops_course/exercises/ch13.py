"""Checks for chapter 13's exercises (what drifted, and false alarms)."""

from __future__ import annotations

from collections.abc import Sequence

from mlops_course import data
from mlops_course.exercises import exercise, expect, expect_type


@exercise("ex-13-1")
def unseen_categories(unseen, *, reference) -> str:
    """The loan purposes of the new_category batch that the reference lacks."""
    expect_type(unseen, (list, tuple, set), "a list of category names")
    known = sorted(set(unseen) & set(reference["loan_purpose"]))
    expect(
        not known,
        f"{', '.join(known)} {'is' if len(known) == 1 else 'are'} in the reference "
        "too: list only the categories the reference never had",
    )
    expect(
        data.NEW_PURPOSE in unseen,
        "the new_category batch has a loan purpose the reference never had, and "
        "your list misses it: compare the batch's categories (UniqueValueCount) "
        "with the reference's",
    )
    return (
        "buy_now_pay_later is new: a drift score says the column moved, a count "
        "per category says why"
    )


def _counts(answer, calm_batches, what) -> list[int]:
    expect_type(answer, Sequence, f"a list of counts for the {what} windows")
    expect(
        len(answer) == calm_batches,
        f"{len(answer)} counts for the {what} windows: run the gate on each of the "
        f"{calm_batches} calm batches",
    )
    bad = [c for c in answer if not 0 <= c <= len(data.FEATURES)]
    expect(
        not bad,
        f"{bad} cannot be a count of flagged columns: the gate tests "
        f"{len(data.FEATURES)} features",
    )
    return list(answer)


@exercise("ex-13-2")
def calm_false_alarms(small, large, *, calm_batches) -> str:
    """Columns flagged per calm batch: 300 vs 500 rows, then 2,000 vs 2,000."""
    small = _counts(small, calm_batches, "300 vs 500")
    large = _counts(large, calm_batches, "2,000 vs 2,000")
    expect(
        sum(small) > sum(large),
        f"your small windows flag {sum(small)} columns in all, the large ones "
        f"{sum(large)}: with 500 reference rows Evidently uses p-value tests, "
        "which fire on calm data; count the failing 'Value Drift' tests and check "
        "which window size is which",
    )
    return (
        "on calm data the small windows' p-value tests fire, the distances on "
        "larger windows far less: measure a monitor where the answer is known"
    )
