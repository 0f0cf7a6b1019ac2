"""Checks for chapter 1's exercises (a model in a notebook)."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mlops_course import modeling
from mlops_course.exercises import Wrong, exercise, expect, expect_type

DEARER_DEFAULT = 10.0  # the exercise's cost of a missed default


@exercise("ex-01-2")
def dearer_default(threshold, *, y_valid, valid_proba) -> str:
    """The threshold that minimises validation cost when a missed default costs 10."""
    expect_type(threshold, numbers.Real, "the threshold, a number between 0 and 1")
    expect(0 < threshold < 1, f"a threshold is between 0 and 1, not {threshold:g}")
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)

    def cost(t, missed=DEARER_DEFAULT):
        return modeling.expected_cost(
            y_valid, valid_proba, t, cost_missed_default=missed
        )

    old = float(
        grid[int(np.argmin([cost(t, modeling.COST_MISSED_DEFAULT) for t in grid]))]
    )
    costs = [cost(t) for t in grid]
    best = float(grid[int(np.argmin(costs))])
    expect(
        threshold < old,
        f"{threshold:.2f} is not below the threshold for a missed default at "
        f"{modeling.COST_MISSED_DEFAULT:g} units ({old:.2f}): a dearer missed default "
        "should make the lender reject more readily",
    )
    expect(
        cost(threshold) <= min(costs) + 1e-9,
        f"at {threshold:.2f} the validation cost is {cost(threshold):.4f} per "
        f"application, but {best:.2f} gives {min(costs):.4f}: search the thresholds on "
        f"the validation period with cost_missed_default={DEARER_DEFAULT:g}",
    )
    return (
        "the lowest validation cost with a missed default at 10 units; the "
        "threshold moved down, as a dearer default asks"
    )


TUNED = {"learning_rate": 0.05, "max_iter": 300}  # the exercise's tree settings


@exercise("ex-01-1")
def tuned_trees(trees, comparison, *, X_valid, y_valid, logreg_proba) -> str:
    """The tuned trees, fitted, and a table that scores them on validation."""
    expect_type(trees, Pipeline, "the fitted Pipeline from modeling.make_model")
    classifier = trees[-1]
    expect(
        isinstance(classifier, HistGradientBoostingClassifier),
        f"the pipeline ends in a {type(classifier).__name__}, not the trees "
        '(modeling.make_model("hgb", ...))',
    )
    settings = {k: classifier.get_params()[k] for k in TUNED}
    expect(
        settings == TUNED,
        f"the trees were built with {settings}; the exercise asks for {TUNED}",
    )
    try:
        check_is_fitted(trees)
    except NotFittedError:
        raise Wrong(
            "the trees are not fitted yet: call .fit(X_train, y_train)"
        ) from None
    expect_type(comparison, pd.DataFrame, "the comparison table, a DataFrame")
    expect(
        {"roc_auc", "brier"} <= set(comparison.columns),
        "the table needs the columns roc_auc and brier, it has "
        f"{list(comparison.columns)}",
    )
    expect(
        "logreg" in comparison.index and len(comparison) == 2,
        f"the table needs two rows, the tuned trees and 'logreg'; it has "
        f"{list(comparison.index)}",
    )
    tree_row = next(name for name in comparison.index if name != "logreg")
    for name, proba in [
        (tree_row, trees.predict_proba(X_valid)[:, 1]),
        ("logreg", logreg_proba),
    ]:
        truth = modeling.score(y_valid, proba)
        for metric in ("roc_auc", "brier"):
            given = float(comparison.loc[name, metric])
            expect(
                abs(given - truth[metric]) < 1e-3,
                f"the {metric} of {name!r} in your table is {given:.4f}, but on the "
                f"validation period it is {truth[metric]:.4f}: compare models on "
                "validation, the period the choice is made on, never on test",
            )
    return (
        "the tuned trees and the logistic regression, both scored on the "
        "validation period"
    )
