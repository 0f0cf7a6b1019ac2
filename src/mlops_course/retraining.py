"""When to retrain: schedule, data drift and performance triggers (chapter 11).

Chapter 11 (CI/CD for ML) uses this module for the retraining trigger of its
pipeline and plots the simulated timeline; Phase 3's continuous-training
chapter reuses the same policy and simulation.

- :class:`RetrainingPolicy` and :func:`should_retrain` turn four observations
  (model age, share of drifted features, current and baseline metric) into a
  :class:`Decision` with a human-readable reason per trigger that fired. Pure
  and deterministic: the clock is an argument, never ``now()``.
- :func:`population_stability_index`, :func:`feature_drift` and
  :func:`drift_share` measure data drift with the PSI, the credit industry's
  usual stability index (0.1 "watch", 0.2 "act").
- :func:`drifting_weeks` makes a stream of weekly batches in which one of the
  generator's drift scenarios takes over gradually, and :func:`simulate`
  serves, scores and (when a policy says so) retrains a model week by week.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mlops_course import data, modeling

__all__ = [
    "Decision",
    "RetrainingPolicy",
    "drift_share",
    "drifting_weeks",
    "feature_drift",
    "population_stability_index",
    "should_retrain",
    "simulate",
]

TRIGGERS = ("schedule", "drift", "performance")


def _finite(name: str, value: float | None, *, low=-math.inf, high=math.inf) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a finite number in [{low}, {high}]: {value}")


@dataclass(frozen=True)
class Decision:
    """Whether to retrain, which triggers fired, and why (one reason per trigger)."""

    retrain: bool
    reasons: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.retrain:
            return "keep the model: no trigger fired"
        return "retrain: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class RetrainingPolicy:
    """Thresholds of the three retraining triggers; ``None`` switches one off.

    - ``max_age_days``: retrain a model older than this (schedule);
    - ``drift_share_threshold``: retrain when at least this share of the
      features drifted (data drift);
    - ``min_metric``: retrain when the current metric falls below this;
    - ``max_metric_drop``: retrain when the metric fell more than this below the
      baseline measured at training time (performance). The metric is one where
      higher is better (ROC AUC, average precision).
    """

    max_age_days: float | None = 30.0
    drift_share_threshold: float | None = 0.3
    min_metric: float | None = None
    max_metric_drop: float | None = 0.02

    def __post_init__(self) -> None:
        _finite("max_age_days", self.max_age_days, low=0)
        if self.max_age_days == 0:
            raise ValueError("max_age_days must be positive (or None to switch off)")
        _finite("drift_share_threshold", self.drift_share_threshold, low=0, high=1)
        if self.drift_share_threshold == 0:
            raise ValueError("drift_share_threshold must be above 0 (or None)")
        _finite("min_metric", self.min_metric)
        _finite("max_metric_drop", self.max_metric_drop, low=0)

    def should_retrain(
        self,
        now: datetime,
        last_trained: datetime,
        drift_share: float | None = None,
        current_metric: float | None = None,
        baseline_metric: float | None = None,
    ) -> Decision:
        """Check every enabled trigger; ``None`` observations are not measured yet."""
        return should_retrain(
            now,
            last_trained,
            drift_share,
            current_metric,
            baseline_metric,
            policy=self,
        )


def should_retrain(
    now: datetime,
    last_trained: datetime,
    drift_share: float | None = None,
    current_metric: float | None = None,
    baseline_metric: float | None = None,
    *,
    policy: RetrainingPolicy | None = None,
) -> Decision:
    """Apply ``policy`` (default thresholds if omitted) to one set of observations.

    ``now`` and ``last_trained`` must be timezone-aware, with ``last_trained``
    not in the future. ``drift_share`` is in [0, 1]. A metric of ``None`` means
    its labels have not arrived: the performance trigger cannot fire on it.
    """
    policy = RetrainingPolicy() if policy is None else policy
    for name, moment in (("now", now), ("last_trained", last_trained)):
        if not isinstance(moment, datetime):
            raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
        if moment.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (for example UTC)")
    if last_trained > now:
        raise ValueError(f"last_trained ({last_trained}) is after now ({now})")
    _finite("drift_share", drift_share, low=0, high=1)
    _finite("current_metric", current_metric)
    _finite("baseline_metric", baseline_metric)

    reasons: list[str] = []
    triggers: list[str] = []
    age = (now - last_trained) / timedelta(days=1)
    if policy.max_age_days is not None and age >= policy.max_age_days:
        triggers.append("schedule")
        reasons.append(
            f"schedule: model is {age:.0f} days old (max {policy.max_age_days:g})"
        )
    threshold = policy.drift_share_threshold
    if threshold is not None and drift_share is not None and drift_share >= threshold:
        triggers.append("drift")
        reasons.append(
            f"drift: {drift_share:.0%} of features drifted (threshold {threshold:.0%})"
        )
    if current_metric is not None:
        performance = []
        if policy.min_metric is not None and current_metric < policy.min_metric:
            performance.append(
                f"metric {current_metric:.3f} is below the minimum "
                f"{policy.min_metric:.3f}"
            )
        if policy.max_metric_drop is not None and baseline_metric is not None:
            drop = baseline_metric - current_metric
            if drop > policy.max_metric_drop:
                performance.append(
                    f"metric fell {drop:.3f} from its baseline {baseline_metric:.3f} "
                    f"(max drop {policy.max_metric_drop:.3f})"
                )
        if performance:
            triggers.append("performance")
            reasons.append("performance: " + " and ".join(performance))
    return Decision(bool(triggers), reasons, triggers)


def population_stability_index(
    reference: pd.Series, current: pd.Series, *, bins: int = 10
) -> float:
    """PSI of ``current`` against ``reference``: sum of (c - r) * ln(c / r) per bin.

    Numbers are cut at the reference's deciles (``bins`` quantiles); text columns
    use one bin per category, a new category included. Missing values form a
    bin of their own, so a column that starts arriving empty drifts too.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    if len(reference) == 0 or len(current) == 0:
        raise ValueError("reference and current must both have rows")
    if pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(
        current
    ):
        ref = reference.to_numpy(dtype=float)
        cur = current.to_numpy(dtype=float)
        edges = np.unique(np.nanquantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))

        def counts(values: np.ndarray) -> np.ndarray:
            # Bin 0 holds missing values, bins 1.. the ranges between the edges.
            codes = np.where(
                np.isnan(values), 0, np.searchsorted(edges, values, side="right") + 1
            )
            return np.bincount(codes, minlength=len(edges) + 2)

    else:
        seen = pd.concat([reference, current]).astype(object)
        categories = pd.unique(seen.where(seen.notna(), "<missing>"))

        def counts(values: pd.Series) -> np.ndarray:
            filled = values.astype(object).where(values.notna(), "<missing>")
            codes = pd.Categorical(filled, categories=categories).codes
            return np.bincount(codes, minlength=len(categories))

        ref, cur = reference, current
    # A small floor keeps a bin that is empty on one side finite (a common choice).
    r = np.maximum(counts(ref) / len(ref), 1e-4)
    c = np.maximum(counts(cur) / len(cur), 1e-4)
    return float(np.sum((c - r) * np.log(c / r)))


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] = tuple(data.FEATURES),
    *,
    threshold: float = 0.2,
) -> pd.DataFrame:
    """PSI per feature and whether it is at least ``threshold`` (drifted)."""
    psi = [population_stability_index(reference[f], current[f]) for f in features]
    table = pd.DataFrame({"feature": list(features), "psi": psi})
    table["drifted"] = table["psi"] >= threshold
    return table


def drift_share(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] = tuple(data.FEATURES),
    *,
    threshold: float = 0.2,
) -> float:
    """Share of ``features`` whose PSI is at least ``threshold``."""
    table = feature_drift(reference, current, features, threshold=threshold)
    return float(table["drifted"].mean())


def drifting_weeks(
    n_weeks: int,
    *,
    scenario: str = "covariate_shift",
    onset_week: int = 6,
    ramp_weeks: int = 4,
    rows_per_week: int = 1_000,
    seed: int = 0,
    start: datetime = data.REFERENCE_DATE + timedelta(days=365),
) -> list[pd.DataFrame]:
    """Weekly batches in which ``scenario`` replaces the reference process.

    Before ``onset_week`` every row comes from the reference process; the share
    of ``scenario`` rows then grows linearly to 100% over ``ramp_weeks`` weeks.
    Each frame has a ``week`` column and a ``scenario_share`` column.
    """
    if n_weeks < 1 or rows_per_week < 1:
        raise ValueError("n_weeks and rows_per_week must be at least 1")
    if onset_week < 0 or ramp_weeks < 1:
        raise ValueError("onset_week must be >= 0 and ramp_weeks >= 1")
    weeks = []
    for week in range(n_weeks):
        week_start = start + timedelta(weeks=week)
        share = min(max((week - onset_week + 1) / ramp_weeks, 0.0), 1.0)
        kwargs = {"start": week_start, "days": 7}
        base = data.drift_scenario(
            "none", rows_per_week, seed=seed + 2 * week, **kwargs
        )
        frame = base.frame
        if share > 0:
            drifted = data.drift_scenario(
                scenario, rows_per_week, seed=seed + 2 * week + 1, **kwargs
            ).frame
            take = np.random.default_rng(seed + week).random(rows_per_week) < share
            frame = pd.concat([frame[~take], drifted[take]]).sort_values(
                data.TIMESTAMP_COLUMN, kind="stable"
            )
        frame = frame.reset_index(drop=True).assign(week=week, scenario_share=share)
        weeks.append(frame)
    return weeks


def _scores(model, frame: pd.DataFrame, threshold: float) -> tuple[float, float]:
    X, y = modeling.features_and_target(frame)
    proba = model.predict_proba(X)[:, 1]
    return float(roc_auc_score(y, proba)), modeling.expected_cost(y, proba, threshold)


def _fit(frame: pd.DataFrame, valid: pd.DataFrame, kind: str):
    model = modeling.make_model(kind).fit(*modeling.features_and_target(frame))
    X, y = modeling.features_and_target(valid)
    proba = model.predict_proba(X)[:, 1]
    threshold, _ = modeling.best_threshold(y.to_numpy(), proba)
    return model, float(roc_auc_score(y, proba)), threshold


def simulate(
    weeks: Sequence[pd.DataFrame],
    policy: RetrainingPolicy | None,
    *,
    initial_train: pd.DataFrame,
    initial_valid: pd.DataFrame,
    trained_at: datetime,
    start: datetime = data.REFERENCE_DATE + timedelta(days=365),
    train_weeks: int = 4,
    model_kind: str = "logreg",
    drift_threshold: float = 0.2,
) -> pd.DataFrame:
    """Serve ``weeks`` one after the other, retraining when ``policy`` says so.

    At the start of week ``w`` the pipeline sees week ``w - 1`` with its labels
    (a one-week label delay): its drift share against the model's training data
    and the model's ROC AUC on it go to :func:`should_retrain`. A retrained
    model learns from the ``train_weeks - 1`` weeks before the last one; the
    last one gives its baseline AUC and its decision threshold (time-based
    validation). ``policy`` ``None`` never retrains (manual retraining that
    nobody does). Returns one row per week: drift share and AUC seen, the
    decision, and the served model's AUC and expected cost per application
    (chapter 1's costs) on that week.
    """
    if train_weeks < 2:
        raise ValueError("train_weeks must be at least 2 (train, then validate)")
    model, baseline, threshold = _fit(initial_train, initial_valid, model_kind)
    reference, last_trained = initial_train, trained_at
    rows: list[dict] = []
    for w, week in enumerate(weeks):
        now = start + timedelta(weeks=w)
        share, metric, decision = None, None, Decision(False)
        if w > 0:
            share = drift_share(reference, weeks[w - 1], threshold=drift_threshold)
            metric = rows[-1]["served_auc"]  # the same model served last week
            if policy is not None:
                decision = policy.should_retrain(
                    now, last_trained, share, metric, baseline
                )
        retrained = decision.retrain and w >= train_weeks
        if retrained:
            recent = list(weeks[w - train_weeks : w])
            reference = pd.concat(recent[:-1])
            model, baseline, threshold = _fit(reference, recent[-1], model_kind)
            last_trained = now
        served_auc, served_cost = _scores(model, week, threshold)
        rows.append(
            {
                "week": w,
                "scenario_share": float(week["scenario_share"].iloc[0]),
                "drift_share": share,
                "seen_auc": metric,
                "retrained": retrained,
                "triggers": ",".join(decision.triggers),
                "served_auc": served_auc,
                "served_cost": served_cost,
                "model_age_weeks": (now - last_trained) / timedelta(weeks=1),
            }
        )
    return pd.DataFrame(rows)
