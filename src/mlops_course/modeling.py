"""The course's credit-default model and its metrics (chapter 1 onwards).

Chapter 1 builds these step by step; later chapters call them so that every
chapter versions, tracks, serves and monitors the same model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_course.data import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET

MODEL_KINDS = ("baseline", "logreg", "hgb")

#: What a decision costs the lender, per application, in units of one lost margin.
COST_MISSED_DEFAULT = 5.0  # approve someone who defaults: the loan loss
COST_REJECTED_GOOD = 1.0  # reject someone who would have repaid: the lost margin


def make_preprocessor(extra_numeric: Sequence[str] = ()) -> ColumnTransformer:
    """Impute and scale numbers, one-hot encode categories (unknown ones ignored)."""
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
    )
    categorical = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return ColumnTransformer(
        [
            ("num", numeric, NUMERIC_FEATURES + list(extra_numeric)),
            ("cat", categorical, CATEGORICAL_FEATURES),
        ]
    )


def make_model(
    kind: str = "logreg", *, seed: int = 0, extra_numeric: Sequence[str] = (), **params
) -> Pipeline:
    """A scikit-learn Pipeline: the preprocessor, then a classifier of ``kind``."""
    if kind == "baseline":
        classifier = DummyClassifier(strategy="prior")
    elif kind == "logreg":
        classifier = LogisticRegression(
            max_iter=1_000, C=params.pop("C", 1.0), **params
        )
    elif kind == "hgb":
        classifier = HistGradientBoostingClassifier(random_state=seed, **params)
    else:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")
    return Pipeline([("prep", make_preprocessor(extra_numeric)), ("model", classifier)])


def expected_cost(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    *,
    cost_missed_default: float = COST_MISSED_DEFAULT,
    cost_rejected_good: float = COST_REJECTED_GOOD,
) -> float:
    """Average cost per application, rejecting everyone with ``proba >= threshold``."""
    y_true = np.asarray(y_true)
    reject = np.asarray(proba) >= threshold
    missed = np.sum((~reject) & (y_true == 1))
    rejected_good = np.sum(reject & (y_true == 0))
    return float(
        (cost_missed_default * missed + cost_rejected_good * rejected_good)
        / len(y_true)
    )


def best_threshold(y_true: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """The threshold (on a 0.01 grid) with the lowest expected cost, and that cost."""
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    costs = [expected_cost(y_true, proba, t) for t in grid]
    i = int(np.argmin(costs))
    return float(grid[i]), float(costs[i])


def score(
    y_true: np.ndarray, proba: np.ndarray, *, threshold: float = 0.5
) -> dict[str, float]:
    """Ranking, calibration and business metrics of default probabilities."""
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "average_precision": float(average_precision_score(y_true, proba)),
        "brier": float(brier_score_loss(y_true, proba)),
        "log_loss": float(log_loss(y_true, proba, labels=[0, 1])),
        "expected_cost": expected_cost(y_true, proba, threshold),
    }


def features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The model's input columns and the ``default`` label of a frame."""
    return frame[FEATURES], frame[TARGET]


def bootstrap_difference(
    y_true: np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    *,
    metric=roc_auc_score,
    n_resamples: int = 1_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``metric(b) - metric(a)`` on the same rows, with a paired bootstrap interval.

    Rows are resampled together (the two models see the same resample), which is
    what makes a small difference measurable. Returns ``(difference, low, high)``;
    an interval that contains 0 means the data cannot tell the two models apart.
    """
    y_true = np.asarray(y_true)
    proba_a = np.asarray(proba_a, dtype=float)
    proba_b = np.asarray(proba_b, dtype=float)

    def difference(y, a, b):
        return metric(y, b) - metric(y, a)

    result = stats.bootstrap(
        (y_true, proba_a, proba_b),
        difference,
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return (
        float(difference(y_true, proba_a, proba_b)),
        float(interval.low),
        float(interval.high),
    )


#: What :func:`interval_verdict` returns, by where the interval lies.
VERDICTS = ("better", "worse", "undecided")


def interval_verdict(low: float, high: float) -> str:
    """Read a confidence interval of an improvement (positive means better).

    ``"better"`` when the whole interval lies above 0, ``"worse"`` when it lies
    below 0, ``"undecided"`` when it contains 0: the data cannot rank the two.
    Chapters build their verdict text from this, in both directions, so a
    measurably worse model never reads as noise.
    """
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"interval bounds must be finite numbers, got {low}, {high}")
    if low > high:
        raise ValueError(f"interval low {low} is above its high {high}")
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "undecided"


def wide_mlp(
    X: pd.DataFrame,
    y: pd.Series,
    hidden: Sequence[int] = (2048, 2048),
    *,
    seed: int = 0,
    max_rows: int = 1_000,
) -> Pipeline:
    """The course's preprocessing, then a wide MLP: a model whose call costs.

    Chapter 15 and ``benchmarks/serving.py`` share it. It is no better a credit
    model than the logistic regression; it stands for the expensive models whose
    call, not the HTTP around it, dominates a request. It trains on the first
    ``max_rows`` rows in float32, for a few epochs (training stops once the loss
    improves by less than 0.05 twice running), to keep its cost small.
    """
    from sklearn.neural_network import MLPClassifier

    prep = make_preprocessor()
    Z = np.asarray(prep.fit_transform(X.iloc[:max_rows]), dtype=np.float32)
    mlp = MLPClassifier(
        tuple(hidden), max_iter=50, tol=5e-2, n_iter_no_change=2, random_state=seed
    ).fit(Z, y.iloc[:max_rows])
    return Pipeline([("prep", prep), ("model", mlp)])
