"""Chapter 1's exercise checks, on a right answer and on wrong ones."""

import numpy as np
import pandas as pd
import pytest

from mlops_course import data, modeling
from mlops_course.exercises import ch01


@pytest.fixture(scope="module")
def validation():
    split = data.time_split(data.generate_applications(3_000, seed=1))
    X_train, y_train = modeling.features_and_target(split.train)
    X_valid, y_valid = modeling.features_and_target(split.valid)
    model = modeling.make_model("logreg", seed=1).fit(X_train, y_train)
    return {"y_valid": y_valid, "valid_proba": model.predict_proba(X_valid)[:, 1]}


def best(validation, missed):
    """The validation-cost minimising threshold on the chapter's 0.01 grid."""
    y, proba = validation["y_valid"], validation["valid_proba"]
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    costs = [
        modeling.expected_cost(y, proba, t, cost_missed_default=missed) for t in grid
    ]
    return float(grid[int(np.argmin(costs))])


def test_dearer_default_accepts_the_cost_minimising_threshold(validation):
    fb = ch01.dearer_default(best(validation, 10.0), **validation)
    assert fb.ok is True, fb.message


def test_dearer_default_refuses_the_old_threshold(validation):
    fb = ch01.dearer_default(best(validation, 5.0), **validation)
    assert fb.ok is False
    assert "should make the lender reject more readily" in fb.message


def test_dearer_default_refuses_a_threshold_that_costs_more(validation):
    fb = ch01.dearer_default(0.01, **validation)
    assert fb.ok is False
    assert "search the thresholds on the validation period" in fb.message


def test_dearer_default_refuses_a_probability_out_of_range(validation):
    assert ch01.dearer_default(1.5, **validation).message == (
        "a threshold is between 0 and 1, not 1.5"
    )


@pytest.fixture(scope="module")
def periods():
    split = data.time_split(data.generate_applications(3_000, seed=1))
    X_train, y_train = modeling.features_and_target(split.train)
    X_valid, y_valid = modeling.features_and_target(split.valid)
    logreg = modeling.make_model("logreg", seed=1).fit(X_train, y_train)
    return X_train, y_train, X_valid, y_valid, logreg.predict_proba(X_valid)[:, 1]


def table(model, X, y, logreg_proba, y_logreg):
    return pd.DataFrame(
        {
            "hgb tuned": modeling.score(y, model.predict_proba(X)[:, 1]),
            "logreg": modeling.score(y_logreg, logreg_proba),
        }
    ).T[["roc_auc", "brier"]]


def test_tuned_trees_accepts_the_tuned_trees_scored_on_validation(periods):
    X_train, y_train, X_valid, y_valid, logreg_proba = periods
    trees = modeling.make_model("hgb", seed=1, learning_rate=0.05, max_iter=300)
    trees.fit(X_train, y_train)
    context = {"X_valid": X_valid, "y_valid": y_valid, "logreg_proba": logreg_proba}
    comparison = table(trees, X_valid, y_valid, logreg_proba, y_valid).round(4)
    fb = ch01.tuned_trees(trees, comparison, **context)
    assert fb.ok is True, fb.message
    # Scored on the training period instead: refused in the lesson's terms.
    on_train = table(trees, X_train, y_train, logreg_proba, y_valid)
    fb = ch01.tuned_trees(trees, on_train, **context)
    assert fb.ok is False
    assert "compare models on validation" in fb.message


def test_tuned_trees_refuses_the_default_settings(periods):
    X_train, y_train, X_valid, y_valid, logreg_proba = periods
    trees = modeling.make_model("hgb", seed=1).fit(X_train, y_train)
    comparison = table(trees, X_valid, y_valid, logreg_proba, y_valid)
    fb = ch01.tuned_trees(
        trees, comparison, X_valid=X_valid, y_valid=y_valid, logreg_proba=logreg_proba
    )
    assert fb.ok is False
    assert "the exercise asks for {'learning_rate': 0.05, 'max_iter': 300}" in (
        fb.message
    )


def test_tuned_trees_refuses_unfitted_trees(periods):
    _, _, X_valid, y_valid, logreg_proba = periods
    trees = modeling.make_model("hgb", seed=1, learning_rate=0.05, max_iter=300)
    fb = ch01.tuned_trees(
        trees, None, X_valid=X_valid, y_valid=y_valid, logreg_proba=logreg_proba
    )
    assert fb.message == "the trees are not fitted yet: call .fit(X_train, y_train)"
