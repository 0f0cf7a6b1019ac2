"""Reproduction verdicts: tolerances, the evidence named, and a real unlogged seed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlops_course import reproducibility
from mlops_course.data import generate_applications, time_split
from mlops_course.modeling import features_and_target, make_model


def test_equal_predictions_and_metrics_reproduce():
    p = np.linspace(0.01, 0.99, 50)
    result = reproducibility.compare(p, p + 1e-12, {"auc": 0.7}, {"auc": 0.7})
    assert result.reproduced and result.summary().startswith("reproduced: 50")


def test_one_moved_row_is_named():
    p = np.linspace(0.01, 0.99, 50)
    q = p.copy()
    q[17] += 1e-4
    result = reproducibility.compare(p, q)
    assert not result.reproduced and result.worst_row == 17
    assert "row 17" in result.summary() and "0.0001" in result.summary()


def test_a_moved_metric_is_named_even_when_rows_match():
    p = np.linspace(0.01, 0.99, 10)
    result = reproducibility.compare(
        p, p, {"auc": 0.7, "cost": 1.0}, {"auc": 0.7, "cost": 1.1}
    )
    assert result.predictions_match and not result.metrics_match
    assert "most cost (+0.1)" in result.summary()


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.ones(3), np.ones(4), "same length"),
        (np.ones((2, 2)), np.ones((2, 2)), "1-D"),
        (np.array([]), np.array([]), "no rows"),
        (np.array([np.nan]), np.array([0.5]), "finite"),
    ],
)
def test_bad_inputs_are_refused(a, b, match):
    with pytest.raises(ValueError, match=match):
        reproducibility.compare(a, b)


def test_metric_names_must_agree():
    p = np.ones(3) / 2
    with pytest.raises(ValueError, match="differ in name"):
        reproducibility.compare(p, p, {"auc": 0.7}, {"brier": 0.1})


def test_the_seed_decides_whether_a_random_model_reproduces():
    """HistGradientBoosting's early stopping draws a validation split at random."""
    split = time_split(generate_applications(2_500, seed=11))
    X, y = features_and_target(split.train)
    X_test, y_test = features_and_target(split.test)

    def fitted(seed: int | None):
        model = make_model("hgb", seed=0, early_stopping=True, max_iter=60)
        model.set_params(model__random_state=seed)
        proba = model.fit(X, y).predict_proba(X_test)[:, 1]
        return proba, {"roc_auc": roc_auc_score(y_test, proba)}

    (p3, m3), (p3_again, m3_again), (p4, m4) = fitted(3), fitted(3), fitted(4)
    same = reproducibility.compare(p3, p3_again, m3, m3_again)
    other = reproducibility.compare(p3, p4, m3, m4)
    assert same.reproduced, same.summary()
    assert not other.reproduced, other.summary()
