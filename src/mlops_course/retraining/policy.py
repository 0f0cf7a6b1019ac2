"""When to retrain: the schedule, data drift and performance triggers (chapter 11).

:class:`RetrainingPolicy` and :func:`should_retrain` turn four observations
(model age, share of drifted features, current and baseline metric, calibration
gap) into a :class:`Decision` with a human-readable reason per trigger that
fired. Pure and deterministic: the clock is an argument, never ``now()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

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
      higher is better (ROC AUC, average precision);
    - ``max_calibration_gap``: retrain when the observed default rate and the
      mean prediction differ by more than this (performance: the model's
      probabilities, and so its threshold, no longer match the world);
    - ``cooldown_days``: the drift and performance triggers stay quiet for this
      long after a retrain (the schedule does not), so a persisting alarm
      retrains at most once per cooldown instead of every week.
    """

    max_age_days: float | None = 30.0
    drift_share_threshold: float | None = 0.3
    min_metric: float | None = None
    max_metric_drop: float | None = 0.02
    max_calibration_gap: float | None = None
    cooldown_days: float | None = None

    def __post_init__(self) -> None:
        _finite("max_age_days", self.max_age_days, low=0)
        if self.max_age_days == 0:
            raise ValueError("max_age_days must be positive (or None to switch off)")
        _finite("drift_share_threshold", self.drift_share_threshold, low=0, high=1)
        if self.drift_share_threshold == 0:
            raise ValueError("drift_share_threshold must be above 0 (or None)")
        _finite("min_metric", self.min_metric)
        _finite("max_metric_drop", self.max_metric_drop, low=0)
        _finite("max_calibration_gap", self.max_calibration_gap, low=0, high=1)
        _finite("cooldown_days", self.cooldown_days, low=0)

    def should_retrain(
        self,
        now: datetime,
        last_trained: datetime,
        drift_share: float | None = None,
        current_metric: float | None = None,
        baseline_metric: float | None = None,
        *,
        calibration_gap: float | None = None,
    ) -> Decision:
        """Check every enabled trigger; ``None`` observations are not measured yet."""
        return should_retrain(
            now,
            last_trained,
            drift_share,
            current_metric,
            baseline_metric,
            calibration_gap=calibration_gap,
            policy=self,
        )


def should_retrain(
    now: datetime,
    last_trained: datetime,
    drift_share: float | None = None,
    current_metric: float | None = None,
    baseline_metric: float | None = None,
    *,
    calibration_gap: float | None = None,
    policy: RetrainingPolicy | None = None,
) -> Decision:
    """Apply ``policy`` (default thresholds if omitted) to one set of observations.

    ``now`` and ``last_trained`` must be timezone-aware, with ``last_trained``
    not in the future. ``drift_share`` is in [0, 1]. A metric (or calibration
    gap: observed default rate minus mean prediction) of ``None`` means its
    labels have not arrived: the performance trigger cannot fire on it.
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
    _finite("calibration_gap", calibration_gap, low=-1, high=1)

    reasons: list[str] = []
    triggers: list[str] = []
    age = (now - last_trained) / timedelta(days=1)
    if policy.max_age_days is not None and age >= policy.max_age_days:
        triggers.append("schedule")
        reasons.append(
            f"schedule: model is {age:.0f} days old (max {policy.max_age_days:g})"
        )
    if policy.cooldown_days is not None and age < policy.cooldown_days:
        return Decision(bool(triggers), reasons, triggers)  # only the schedule
    threshold = policy.drift_share_threshold
    if threshold is not None and drift_share is not None and drift_share >= threshold:
        triggers.append("drift")
        reasons.append(
            f"drift: {drift_share:.0%} of features drifted (threshold {threshold:.0%})"
        )
    performance = []
    gap, gap_limit = calibration_gap, policy.max_calibration_gap
    if gap_limit is not None and gap is not None and abs(gap) > gap_limit:
        performance.append(f"calibration gap {gap:+.3f} (max {gap_limit:.3f})")
    if current_metric is not None:
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
