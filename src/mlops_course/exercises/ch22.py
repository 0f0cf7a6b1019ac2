"""Checks for chapter 22's exercises (cost optimisation)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from mlops_course import cost_model
from mlops_course.exercises import Wrong, exercise, expect, expect_type

#: The night-time utilisation exercise 2 asks about.
NIGHT_UTILISATION = 0.15
#: How far above the best expected time an interval may land (a fine grid's step).
SLACK = 0.002


@exercise("ex-22-1")
def checkpoint_interval(interval_h, *, work_h, rate_per_h, write_h, restart_h) -> str:
    """The checkpoint interval that minimises the spot job's expected time."""
    expect_type(interval_h, numbers.Real, "an interval in hours, a number")
    expect(
        0 < interval_h <= work_h,
        f"an interval is between 0 and the job's {work_h:g} hours, not {interval_h:g}",
    )

    def hours(h: float) -> float:
        return cost_model.expected_hours(
            work_h, rate_per_h, interval_h=h, write_h=write_h, restart_h=restart_h
        )

    grid = np.geomspace(0.01, work_h, 2_000)
    values = np.array([hours(float(h)) for h in grid])
    best_h, best = float(grid[values.argmin()]), float(values.min())
    mine = hours(float(interval_h))
    if mine > best * (1 + SLACK):
        if interval_h < best_h:
            reason = (
                "checkpoints this often spend more time writing than they save: "
                "lengthen the interval"
            )
        else:
            reason = (
                "each reclaim loses up to a whole interval of work: "
                "checkpoint more often"
            )
        raise Wrong(
            f"at {interval_h:g} h the job takes {mine:.2f} h on average, "
            f"{mine / best - 1:.1%} more than the best interval; {reason}"
        )
    return (
        "the expected time is at its minimum: writes and lost work balance "
        "(compare it with Young's sqrt(2 c / rate))"
    )


@exercise("ex-22-2")
def night_cost(cost, *, price_per_h, rows_per_s) -> str:
    """Cost of 1,000 predictions at the night's 15% utilisation."""
    expect_type(cost, numbers.Real, "a cost per 1,000 predictions, a number")
    expect(math.isfinite(cost) and cost > 0, "a cost is a positive number")
    right = cost_model.cost_per_1000(price_per_h, rows_per_s, NIGHT_UTILISATION)
    busy = cost_model.cost_per_1000(price_per_h, rows_per_s, 1.0)
    slips = [
        (busy * NIGHT_UTILISATION, "you multiplied by the utilisation: divide by it"),
        (busy, "that is the cost of a machine busy all the time: use 15%"),
        (right / 1000, "that is the cost of one prediction: multiply by 1,000"),
        (right * 3600, "price per hour, rows per second: use 3,600 once"),
        (right / 3600, "price per hour, rows per second: use 3,600 once"),
    ]
    if not math.isclose(cost, right, rel_tol=1e-3):
        for value, message in slips:
            expect(not math.isclose(cost, value, rel_tol=1e-3), message)
        raise Wrong(
            f"{cost:.3g} is {cost / right:.3g} times the cost: price per hour / "
            "(3600 x rows per second x utilisation) x 1000"
        )
    return (
        "the idle hours are paid too: at 15% utilisation each answer costs "
        "1 / 0.15 times the busy price"
    )
