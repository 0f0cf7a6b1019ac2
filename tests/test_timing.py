"""Repeated timings: the runs kept, the median and range, and the word they allow."""

from __future__ import annotations

import time

import pytest

from mlops_course.timing import (
    SPEED_WORDS,
    Timing,
    speed_word,
    time_interleaved,
    time_runs,
)


def test_time_runs_keeps_one_figure_per_run_after_the_warm_up():
    calls = []
    timing = time_runs(lambda: calls.append(1), runs=4, calls=5, warmup=2)
    assert len(timing.seconds) == 4
    assert len(calls) == 2 + 4 * 5


def test_time_runs_measures_seconds_per_call():
    timing = time_runs(lambda: time.sleep(0.002), runs=3, calls=5, warmup=0)
    assert 0.002 <= timing.low <= timing.median <= timing.high < 0.05


def test_median_and_range_of_the_runs():
    timing = Timing((0.003, 0.001, 0.002, 0.010))
    assert timing.median == pytest.approx(0.0025)
    assert (timing.low, timing.high) == (0.001, 0.010)
    assert timing.ms() == "2.5 ms (1-10)"


@pytest.mark.parametrize(
    ("candidate", "baseline", "word"),
    [
        ((1.0, 1.5, 1.9), (2.0, 2.1, 3.0), "faster"),
        ((2.0, 2.1, 3.0), (1.0, 1.5, 1.9), "slower"),
        ((1.0, 1.5, 2.0), (2.0, 2.1, 3.0), "no measurable difference"),  # touching
        ((1.0, 5.0), (2.0, 3.0), "no measurable difference"),  # one wild run
    ],
)
def test_speed_word_needs_ranges_that_do_not_overlap(candidate, baseline, word):
    assert speed_word(Timing(candidate), Timing(baseline)) == word
    assert word in SPEED_WORDS


@pytest.mark.parametrize("seconds", [(), (float("nan"),), (-1.0,)])
def test_a_timing_refuses_no_runs_and_impossible_figures(seconds):
    with pytest.raises(ValueError):
        Timing(seconds)


def test_time_runs_refuses_zero_runs():
    with pytest.raises(ValueError, match="runs and calls"):
        time_runs(lambda: None, runs=0)


def test_time_interleaved_takes_turns_run_by_run():
    order = []
    timings = time_interleaved(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")},
        runs=3,
        calls=2,
        warmup=1,
    )
    assert order == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert {name: len(t.seconds) for name, t in timings.items()} == {"a": 3, "b": 3}


def test_time_interleaved_keeps_each_function_its_own_timing():
    timings = time_interleaved(
        {"quick": lambda: None, "slow": lambda: time.sleep(0.003)}, runs=3, calls=3
    )
    assert speed_word(timings["quick"], timings["slow"]) == "faster"
