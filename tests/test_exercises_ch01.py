"""Chapter 1's exercise checks, on a right answer and on wrong ones."""

import numpy as np
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
