"""Chapter 17's exercise checks, on a right answer and on wrong ones."""

import numpy as np
import pandas as pd
import pytest

from mlops_course import continuous_training as ct
from mlops_course.exercises import ch17

N_WEEKS = 30


@pytest.fixture(scope="module")
def seasonal():
    stream = ct.Stream(
        ct.production_weeks("seasonality", seed=2, n_weeks=N_WEEKS, rows_per_week=300)
    )
    earlier = [w for w in range(N_WEEKS) if w - 52 >= stream.first]
    training = [stream.drift_share(stream.model(0), w) >= 0.15 for w in range(N_WEEKS)]
    year = [
        ct.drift_share(
            ct.DriftSample(stream.rows(w - 52)), ct.DriftSample(stream.rows(w))
        )
        >= 0.15
        for w in earlier
    ]
    return stream, training, year


@pytest.mark.slow
def test_seasonal_reference_accepts_both_comparisons(seasonal):
    stream, training, year = seasonal
    fb = ch17.seasonal_reference(training, year, stream=stream, n_weeks=N_WEEKS)
    assert fb.ok is True, fb.message


@pytest.mark.slow
def test_seasonal_reference_refuses_the_training_window_twice(seasonal):
    stream, training, year = seasonal
    again = training[-len(year) :]
    if again == year:  # pragma: no cover - the fixture's data differ here
        pytest.skip("the two comparisons agree on this seed")
    fb = ch17.seasonal_reference(training, again, stream=stream, n_weeks=N_WEEKS)
    assert fb.ok is False
    assert "are not week w compared with week w - 52" in fb.message


def test_seasonal_reference_refuses_lists_of_the_wrong_length(seasonal):
    stream, training, year = seasonal
    fb = ch17.seasonal_reference(training, training, stream=stream, n_weeks=N_WEEKS)
    assert fb.ok is False
    assert "have the same week 52 weeks earlier in the history" in fb.message


SEED = 42


@pytest.fixture(scope="module")
def results():
    """A study's table: the trigger retrains less than the schedule, per seed."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(SEED, SEED + 12):
        base = rng.normal(10_000, 300)
        for policy, cost, retrains in [
            ("schedule", base, 4),
            ("trigger", base + rng.normal(0, 60), 2),
        ]:
            rows.append(
                {
                    "scenario": ch17.SCENARIO,
                    "seed": seed,
                    "policy": policy,
                    "decision_cost": cost,
                    "retrains": retrains,
                }
            )
    return pd.DataFrame(rows)


def test_price_matters_accepts_the_recomputed_savings(results):
    savings = {p: ch17.priced_saving(results, p, SEED) for p in ch17.PRICES}
    assert savings[500.0]["verdict"] == "better"
    fb = ch17.price_matters(savings, results=results, seed=SEED)
    assert fb.ok is True, fb.message
    # the message reads each verdict from its interval, not a fixed story
    assert "at 500 it favours the trigger" in fb.message, fb.message


def test_price_matters_refuses_a_price_left_out_and_a_flipped_sign(results):
    same = {p: ch17.priced_saving(results, 0.0, SEED) for p in ch17.PRICES}
    fb = ch17.price_matters(same, results=results, seed=SEED)
    assert fb.ok is False
    assert fb.message.startswith("your two prices give the same saving")
    flipped = {
        p: {**s, "saving": -s["saving"]}
        for p, s in ((p, ch17.priced_saving(results, p, SEED)) for p in ch17.PRICES)
    }
    fb = ch17.price_matters(flipped, results=results, seed=SEED)
    assert "schedule's total cost minus the trigger's" in fb.message
