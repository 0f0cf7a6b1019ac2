"""Chapter 21's exercise checks, on a right answer and on wrong ones."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate

from mlops_course import fairness_gate
from mlops_course.exercises import ch21


@pytest.fixture(scope="module")
def holdout():
    rng = np.random.default_rng(0)
    n = 2_000
    age = rng.integers(18, 80, n)
    bands = pd.Series(
        pd.cut(
            age,
            [18, 30, 45, 62, 81],
            right=False,
            labels=["18-29", "30-44", "45-61", "62+"],
        )
    )
    gender = pd.Series(rng.choice(np.array(["F", "M"]), n))
    y = pd.Series((rng.random(n) < 0.2).astype(int))
    young = (bands == "18-29").to_numpy()
    refuse = (rng.random(n) < np.where(young, 0.4, 0.2)).astype(int)
    return {"y": y, "bands": bands, "gender": gender, "refuse": refuse}


def frame(holdout, y_pred, groups):
    return MetricFrame(
        metrics={"refusal rate": selection_rate, "fpr": false_positive_rate},
        y_true=holdout["y"],
        y_pred=y_pred,
        sensitive_features=groups,
    )


def test_age_band_gaps_accepts_the_champions_rates_by_band(holdout):
    fb = ch21.age_band_gaps(
        frame(holdout, holdout["refuse"], holdout["bands"]),
        y_true=holdout["y"],
        refuse=holdout["refuse"],
        age_bands=holdout["bands"],
    )
    assert fb.ok is True, fb.message
    assert "18-29 band is refused most" in fb.message


def test_age_band_gaps_refuses_groups_that_are_not_age_bands(holdout):
    fb = ch21.age_band_gaps(
        frame(holdout, holdout["refuse"], holdout["gender"]),
        y_true=holdout["y"],
        refuse=holdout["refuse"],
        age_bands=holdout["bands"],
    )
    assert fb.ok is False and "pass sensitive_features=age_bands" in fb.message


def test_age_band_gaps_refuses_other_decisions(holdout):
    approve = 1 - holdout["refuse"]
    fb = ch21.age_band_gaps(
        frame(holdout, approve, holdout["bands"]),
        y_true=holdout["y"],
        refuse=holdout["refuse"],
        age_bands=holdout["bands"],
    )
    assert fb.ok is False and "1 = refuse" in fb.message


def test_age_band_gaps_wants_a_metricframe(holdout):
    fb = ch21.age_band_gaps(
        {"refusal rate": 0.3},
        y_true=holdout["y"],
        refuse=holdout["refuse"],
        age_bands=holdout["bands"],
    )
    assert fb.ok is False and "MetricFrame" in fb.message


def context(holdout):
    return {
        "y_true": holdout["y"],
        "refuse_champion": holdout["refuse"],
        "group": holdout["gender"],
    }


def challenger(holdout):
    extra = (holdout["gender"] == "F").to_numpy() & (np.arange(2_000) % 4 == 0)
    return np.where(extra, 1, holdout["refuse"])


def test_slight_error_gate_accepts_a_consistent_check(holdout):
    new = challenger(holdout)
    check = fairness_gate.fairness_check(
        holdout["y"],
        new,
        holdout["refuse"],
        holdout["gender"],
        metric="false_positive_rate",
        n_resamples=200,
    )
    fb = ch21.slight_error_gate(new, check, **context(holdout))
    assert fb.ok is True, fb.message
    assert "refused on evidence" in fb.message


def test_slight_error_gate_refuses_another_gap(holdout):
    new = challenger(holdout)
    check = fairness_gate.fairness_check(
        holdout["y"], new, holdout["refuse"], holdout["gender"], n_resamples=200
    )
    fb = ch21.slight_error_gate(new, check, **context(holdout))
    assert fb.ok is False and "metric='false_positive_rate'" in fb.message


def test_slight_error_gate_refuses_swapped_models(holdout):
    new = challenger(holdout)
    check = fairness_gate.fairness_check(
        holdout["y"],
        holdout["refuse"],
        new,
        holdout["gender"],
        metric="false_positive_rate",
        n_resamples=200,
    )
    fb = ch21.slight_error_gate(new, check, **context(holdout))
    assert fb.ok is False and "the champion's second" in fb.message


def test_slight_error_gate_refuses_the_champions_own_decisions(holdout):
    fb = ch21.slight_error_gate(holdout["refuse"], None, **context(holdout))
    assert fb.ok is False and "champion's own decisions" in fb.message
