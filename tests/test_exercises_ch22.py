"""Chapter 22's exercise checks, on a right answer and on wrong ones."""

from __future__ import annotations

import numpy as np

from mlops_course import cost_model
from mlops_course.exercises import ch22

JOB = {"work_h": 24.0, "rate_per_h": 0.05, "write_h": 1 / 60, "restart_h": 0.1}
SERVICE = {"price_per_h": 0.1, "rows_per_s": 5_000.0}


def best_interval():
    grid = np.linspace(0.05, 4.0, 400)
    hours = [cost_model.expected_hours(**{**JOB, "interval_h": float(h)}) for h in grid]
    return float(grid[int(np.argmin(hours))])


def test_checkpoint_interval_accepts_the_minimum():
    fb = ch22.checkpoint_interval(best_interval(), **JOB)
    assert fb.ok is True, fb.message
    assert "writes and lost work balance" in fb.message


def test_checkpoint_interval_refuses_checkpoints_too_often():
    fb = ch22.checkpoint_interval(0.02, **JOB)
    assert fb.ok is False and "lengthen the interval" in fb.message


def test_checkpoint_interval_refuses_checkpoints_too_rarely():
    fb = ch22.checkpoint_interval(6.0, **JOB)
    assert fb.ok is False and "checkpoint more often" in fb.message


def test_checkpoint_interval_refuses_an_impossible_interval():
    assert ch22.checkpoint_interval(-1, **JOB).message.startswith(
        "an interval is between 0 and the job's 24 hours"
    )
    assert ch22.checkpoint_interval("1h", **JOB).ok is False


def test_night_cost_accepts_the_formula():
    right = SERVICE["price_per_h"] / (3600 * SERVICE["rows_per_s"] * 0.15) * 1000
    fb = ch22.night_cost(right, **SERVICE)
    assert fb.ok is True, fb.message


def test_night_cost_names_each_classic_slip():
    busy = cost_model.cost_per_1000(SERVICE["price_per_h"], SERVICE["rows_per_s"], 1.0)
    right = busy / 0.15
    cases = {
        busy * 0.15: "you multiplied by the utilisation",
        busy: "a machine busy all the time",
        right / 1000: "multiply by 1,000",
        right * 3600: "use 3,600 once",
        right * 2: "times the cost",
    }
    for answer, message in cases.items():
        fb = ch22.night_cost(answer, **SERVICE)
        assert fb.ok is False and message in fb.message, (answer, fb.message)
