"""The course model and its metrics."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_course import modeling
from mlops_course.data import generate_applications, time_split
from mlops_course.modeling import (
    COST_MISSED_DEFAULT,
    COST_REJECTED_GOOD,
    best_threshold,
    expected_cost,
    features_and_target,
    make_model,
    score,
)


@pytest.fixture(scope="module")
def split():
    return time_split(generate_applications(6_000, seed=11))


@pytest.mark.parametrize("kind", ["baseline", "logreg", "hgb"])
def test_every_kind_fits_and_predicts_probabilities(kind, split):
    X, y = features_and_target(split.train)
    proba = (
        make_model(kind, seed=0)
        .fit(X, y)
        .predict_proba(features_and_target(split.test)[0])
    )
    assert proba.shape == (len(split.test), 2)
    assert np.allclose(proba.sum(axis=1), 1)


def test_real_model_beats_the_baseline(split):
    X, y = features_and_target(split.train)
    Xt, yt = features_and_target(split.test)
    base = score(yt, make_model("baseline").fit(X, y).predict_proba(Xt)[:, 1])
    real = score(yt, make_model("logreg").fit(X, y).predict_proba(Xt)[:, 1])
    assert base["roc_auc"] == 0.5
    assert real["roc_auc"] > 0.65 and real["brier"] < base["brier"]


def test_unknown_category_and_missing_number_are_handled(split):
    X, y = features_and_target(split.train)
    model = make_model("logreg").fit(X, y)
    odd = split.test[X.columns].head(2).copy()
    odd.loc[odd.index[0], "loan_purpose"] = "never_seen"
    odd.loc[odd.index[1], "annual_income"] = np.nan
    assert np.isfinite(model.predict_proba(odd)).all()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown model kind"):
        make_model("forest")


def test_expected_cost_counts_both_mistakes():
    y = np.array([1, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.1, 0.2])  # one caught, one good rejected, one missed
    assert expected_cost(y, p, 0.5) == pytest.approx(
        (COST_MISSED_DEFAULT + COST_REJECTED_GOOD) / 4
    )
    assert expected_cost(y, p, 1.01) == pytest.approx(2 * COST_MISSED_DEFAULT / 4)


def test_best_threshold_is_near_the_cost_ratio_for_calibrated_scores():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)
    threshold, _ = best_threshold(y, p)
    assert threshold == pytest.approx(
        COST_REJECTED_GOOD / (COST_REJECTED_GOOD + COST_MISSED_DEFAULT), abs=0.02
    )


def test_bootstrap_difference_separates_a_real_gap_from_noise():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2_000)
    noise = rng.random(2_000)
    weak = 0.1 * y + noise
    strong = 0.6 * y + noise
    diff, low, high = modeling.bootstrap_difference(y, weak, strong, n_resamples=300)
    assert 0 < low < diff < high
    same, low, high = modeling.bootstrap_difference(
        y, weak, weak + 1e-9 * noise, n_resamples=300
    )
    assert low <= 0 <= high and abs(same) < 1e-6


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.002, 0.02, "better"),
        (-0.022, -0.002, "worse"),
        (-0.064, 0.039, "undecided"),
        (0.0, 0.01, "undecided"),  # touching 0 is not evidence
        (-0.01, 0.0, "undecided"),
    ],
)
def test_interval_verdict_reads_both_directions(low, high, verdict):
    assert modeling.interval_verdict(low, high) == verdict
    assert verdict in modeling.VERDICTS


def test_interval_verdict_agrees_with_a_bootstrap_of_a_worse_model():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 2_000)
    noise = rng.random(2_000)
    _, low, high = modeling.bootstrap_difference(
        y, 0.6 * y + noise, 0.1 * y + noise, n_resamples=300
    )
    assert modeling.interval_verdict(low, high) == "worse"


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [(0.1, -0.1, "above its high"), (float("nan"), 0.1, "finite")],
)
def test_interval_verdict_refuses_a_malformed_interval(low, high, message):
    with pytest.raises(ValueError, match=message):
        modeling.interval_verdict(low, high)
