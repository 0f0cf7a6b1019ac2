"""When to retrain: schedule, data drift and performance triggers (chapter 11).

Chapter 11 (CI/CD for ML) uses this package for the retraining trigger of its
pipeline and plots the simulated timeline; Phase 3's continuous-training
chapter reuses the same policy and simulation. One module per concern:

- :mod:`.policy`: :class:`RetrainingPolicy` and :func:`should_retrain` turn
  observations into a :class:`Decision` (pure; the clock is an argument);
- :mod:`.drift`: :class:`DriftReference`, :func:`feature_drift` and
  :func:`drift_share`, Evidently's default drift tests computed with scipy;
- :mod:`.simulation`: :func:`simulate` serves, scores and retrains a model week
  by week on weeks from :func:`mlops_course.data.drifting_weeks`;
- :mod:`.comparison`: :func:`compare_policies` over many seeds and
  :func:`paired_difference` with an interval.
"""

from mlops_course.retraining.comparison import compare_policies, paired_difference
from mlops_course.retraining.drift import (
    DRIFT_THRESHOLD,
    DriftReference,
    drift_share,
    feature_drift,
)
from mlops_course.retraining.policy import (
    TRIGGERS,
    Decision,
    RetrainingPolicy,
    should_retrain,
)
from mlops_course.retraining.simulation import simulate

__all__ = [
    "DRIFT_THRESHOLD",
    "TRIGGERS",
    "Decision",
    "DriftReference",
    "RetrainingPolicy",
    "compare_policies",
    "drift_share",
    "feature_drift",
    "paired_difference",
    "should_retrain",
    "simulate",
]
