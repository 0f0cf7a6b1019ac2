"""Checks for chapter 1's exercises (a model in a notebook)."""

from __future__ import annotations

import numbers

import numpy as np

from mlops_course import modeling
from mlops_course.exercises import exercise, expect, expect_type

DEARER_DEFAULT = 10.0  # the exercise's cost of a missed default


@exercise("ex-01-2")
def dearer_default(threshold, *, y_valid, valid_proba) -> str:
    """The threshold that minimises validation cost when a missed default costs 10."""
    expect_type(threshold, numbers.Real, "the threshold, a number between 0 and 1")
    expect(0 < threshold < 1, f"a threshold is between 0 and 1, not {threshold:g}")
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)

    def cost(t, missed=DEARER_DEFAULT):
        return modeling.expected_cost(
            y_valid, valid_proba, t, cost_missed_default=missed
        )

    old = float(
        grid[int(np.argmin([cost(t, modeling.COST_MISSED_DEFAULT) for t in grid]))]
    )
    costs = [cost(t) for t in grid]
    best = float(grid[int(np.argmin(costs))])
    expect(
        threshold < old,
        f"{threshold:.2f} is not below the threshold for a missed default at "
        f"{modeling.COST_MISSED_DEFAULT:g} units ({old:.2f}): a dearer missed default "
        "should make the lender reject more readily",
    )
    expect(
        cost(threshold) <= min(costs) + 1e-9,
        f"at {threshold:.2f} the validation cost is {cost(threshold):.4f} per "
        f"application, but {best:.2f} gives {min(costs):.4f}: search the thresholds on "
        f"the validation period with cost_missed_default={DEARER_DEFAULT:g}",
    )
    return (
        "the lowest validation cost with a missed default at 10 units; the "
        "threshold moved down, as a dearer default asks"
    )
