"""Preemption and serving cost formulas, and the simulation checking them (ch. 22)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_course import cost_model


@pytest.mark.parametrize("interval", [None, 0.5, 2.0])
def test_the_closed_form_matches_the_simulation(interval):
    settings = {
        "work_h": 10.0,
        "rate_per_h": 0.1,
        "interval_h": interval,
        "write_h": 0.02,
        "restart_h": 0.1,
    }
    hours = cost_model.simulate_hours(**settings, n_runs=4_000, seed=1)
    _, low, high = cost_model.mean_interval(hours, confidence=0.9999)
    assert low <= cost_model.expected_hours(**settings) <= high


def test_a_wrong_formula_falls_outside_the_simulation():
    """The check above can fail: forgetting the restart time is caught."""
    hours = cost_model.simulate_hours(10.0, 0.1, restart_h=1.0, n_runs=4_000, seed=1)
    _, low, high = cost_model.mean_interval(hours, confidence=0.9999)
    assert not low <= cost_model.expected_hours(10.0, 0.1) <= high


def test_no_reclaims_means_the_work_plus_the_writes():
    assert cost_model.expected_hours(10.0, 0.0) == 10.0
    assert cost_model.expected_hours(10.0, 0.0, interval_h=2.5, write_h=0.1) == 10.4
    assert cost_model.segments(10.0, 3.0, 0.5) == [3.5, 3.5, 3.5, 1.5]
    assert np.all(cost_model.simulate_hours(5.0, 0.0, n_runs=3) == 5.0)


def test_checkpoints_beat_restarts_from_zero_on_a_long_job():
    without = cost_model.expected_hours(24.0, 0.1, restart_h=0.1)
    with_ = cost_model.expected_hours(
        24.0, 0.1, interval_h=0.5, write_h=1 / 60, restart_h=0.1
    )
    assert with_ < 30 < without
    assert without == pytest.approx(math.expm1(2.4) * (10 + 0.1))


def test_young_interval_is_close_to_the_best_interval():
    grid = np.linspace(0.05, 5, 500)
    hours = [
        cost_model.expected_hours(24, 0.05, interval_h=h, write_h=1 / 60) for h in grid
    ]
    best = grid[int(np.argmin(hours))]
    assert cost_model.young_interval(0.05, 1 / 60) == pytest.approx(best, rel=0.1)


def test_cost_per_1000_divides_by_throughput_and_utilisation():
    assert cost_model.cost_per_1000(3.6, 1.0, 1.0) == pytest.approx(1.0)
    assert cost_model.cost_per_1000(3.6, 1.0, 0.5) == pytest.approx(2.0)
    assert cost_model.cost_per_1000(3.6, 10.0, 1.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="utilisation"):
        cost_model.cost_per_1000(1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="rows_per_s"):
        cost_model.cost_per_1000(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="interval_h"):
        cost_model.segments(1.0, 0.0, 0.0)
