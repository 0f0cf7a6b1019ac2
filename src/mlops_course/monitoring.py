"""Drift and performance monitoring with Evidently, checked against known truth.

Chapter 13 builds these reports step by step and then uses this module to run
them on every drift scenario; Phase 3 (continuous training triggered by drift)
reuses :func:`monitor` as its trigger. The module holds plumbing only:

- :func:`drift_report` and :func:`performance_report`: the chapter's two
  Evidently reports with their pass/fail tests (data drift per feature,
  missing values per feature, prediction drift; calibration and ranking once
  labels arrive);
- :func:`outcomes_of` and :func:`detection_of`: read the tests of the
  resulting snapshots into a :class:`Detection` (which columns, which alarms);
- :func:`mismatches`: compare a detection with a scenario's
  :class:`~mlops_course.data.DriftTruth`;
- :func:`screen`: the same verdict as :func:`monitor` without building a
  report (no charts), for measuring the monitor over many batches.

The book's copies of the chapter's reports are :mod:`mlops_course.book_reports`.

Evidently is imported inside the functions (it costs ~3 s), so importing this
module is cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_course.data import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
    TARGET,
    DriftTruth,
)

PREDICTION = "prediction"
#: Per-row ``default - prediction``: its mean is the calibration gap.
RESIDUAL = "residual"
#: Largest tolerated share of missing values in a feature (the reference has none).
MAX_MISSING_SHARE = 0.01
#: Largest tolerated gap between the observed default rate and the mean prediction.
MAX_CALIBRATION_GAP = 0.025
#: Largest tolerated fall of ROC AUC below the reference's, in absolute terms.
MAX_AUC_DROP = 0.05

_VALUE_DRIFT = "ValueDrift"
_MISSING = "MissingValueCount"


@dataclass(frozen=True)
class Outcome:
    """One Evidently test: the metric it checks, its column, name and status."""

    metric: str
    column: str | None
    name: str
    status: str

    @property
    def failed(self) -> bool:
        """True unless the test passed (FAIL, WARNING and ERROR all count)."""
        return self.status != "SUCCESS"


@dataclass(frozen=True)
class Detection:
    """What the monitor flagged on one batch."""

    drifted_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()
    prediction_drift: bool = False
    #: None while the labels of the batch have not arrived.
    performance_drop: bool | None = None

    @property
    def flagged_columns(self) -> tuple[str, ...]:
        """Features with drift or missing values, in the generator's order."""
        flagged = set(self.drifted_columns) | set(self.missing_columns)
        return tuple(f for f in FEATURES if f in flagged)

    @property
    def data_quality_issue(self) -> bool:
        """A feature arrives with missing values it never had."""
        return bool(self.missing_columns)

    @property
    def concept_drift(self) -> bool:
        """Performance fell although no feature moved: the relationship changed."""
        return bool(self.performance_drop) and not self.flagged_columns

    @property
    def alarm(self) -> bool:
        """Anything at all was flagged."""
        return bool(
            self.flagged_columns or self.prediction_drift or self.performance_drop
        )


def scored_frame(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Features, label, the model's probability and the residual of a batch."""
    scored = frame[[*FEATURES, TARGET]].copy()
    scored[PREDICTION] = model.predict_proba(frame[FEATURES])[:, 1]
    scored[RESIDUAL] = scored[TARGET] - scored[PREDICTION]
    return scored


def data_definition() -> Any:
    """Evidently's description of a scored frame (:func:`scored_frame`)."""
    from evidently import BinaryClassification, DataDefinition

    return DataDefinition(
        numerical_columns=[*NUMERIC_FEATURES, PREDICTION, RESIDUAL],
        categorical_columns=list(CATEGORICAL_FEATURES),
        classification=[
            BinaryClassification(target=TARGET, prediction_probas=PREDICTION)
        ],
    )


def dataset(scored: pd.DataFrame) -> Any:
    """An Evidently Dataset of a scored frame."""
    from evidently import Dataset

    return Dataset.from_pandas(scored, data_definition=data_definition())


def drift_report() -> Any:
    """Feature drift, missing values and prediction drift, each with its test."""
    from evidently import Report
    from evidently.metrics import MissingValueCount, ValueDrift
    from evidently.presets import DataDriftPreset
    from evidently.tests import lte

    return Report(
        [
            DataDriftPreset(columns=list(FEATURES)),
            *[
                MissingValueCount(column=c, share_tests=[lte(MAX_MISSING_SHARE)])
                for c in FEATURES
            ],
            ValueDrift(column=PREDICTION),
        ],
        include_tests=True,
    )


def performance_report(reference_auc: float) -> Any:
    """Classification quality once labels arrive; tests on calibration and AUC."""
    from evidently import Report
    from evidently.metrics import MeanValue, RocAuc
    from evidently.presets import ClassificationPreset
    from evidently.tests import gte, lte

    return Report(
        [
            ClassificationPreset(),
            MeanValue(
                column=RESIDUAL,
                tests=[gte(-MAX_CALIBRATION_GAP), lte(MAX_CALIBRATION_GAP)],
            ),
            RocAuc(tests=[gte(round(reference_auc - MAX_AUC_DROP, 4))]),
        ],
        include_tests=False,
    )


def outcomes_of(snapshot: Any) -> list[Outcome]:
    """Every test of an Evidently snapshot (a run report), in report order."""
    outcomes = []
    for test in snapshot.dict()["tests"]:
        params = test["metric_config"]["params"]
        status = getattr(test["status"], "value", test["status"])
        outcomes.append(
            Outcome(
                metric=params["type"].rsplit(":", 1)[-1],
                column=params.get("column"),
                name=test["name"],
                status=str(status),
            )
        )
    return outcomes


def detection_of(
    drift_tests: Iterable[Outcome],
    performance_tests: Iterable[Outcome] | None = None,
) -> Detection:
    """Read failed tests into a :class:`Detection` (no labels: performance None)."""
    failed = [t for t in drift_tests if t.failed]
    drifted = {t.column for t in failed if t.metric == _VALUE_DRIFT}
    missing = {t.column for t in failed if t.metric == _MISSING}
    performance = None
    if performance_tests is not None:
        performance = any(t.failed for t in performance_tests)
    return Detection(
        drifted_columns=tuple(f for f in FEATURES if f in drifted),
        missing_columns=tuple(f for f in FEATURES if f in missing),
        prediction_drift=PREDICTION in drifted,
        performance_drop=performance,
    )


def mismatches(detection: Detection, truth: DriftTruth) -> list[str]:
    """How a detection differs from the truth of its scenario (empty: it matches)."""
    problems = []
    flagged, planted = set(detection.flagged_columns), set(truth.drifted_features)
    if flagged - planted:
        problems.append(f"false alarm on {sorted(flagged - planted)}")
    if planted - flagged:
        problems.append(f"missed drift in {sorted(planted - flagged)}")
    if detection.data_quality_issue != truth.data_quality_issue:
        said = "reported" if detection.data_quality_issue else "missed"
        problems.append(f"{said} a data-quality issue")
    labelled = detection.performance_drop is not None
    if labelled and detection.concept_drift != truth.concept_drift:
        said = "reported" if detection.concept_drift else "missed"
        problems.append(f"{said} concept drift")
    return problems


@dataclass(frozen=True)
class MonitorResult:
    """The two snapshots of one batch and what they detected."""

    drift: Any
    performance: Any | None
    detection: Detection


def monitor(
    model: Any,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    with_labels: bool = True,
) -> MonitorResult:
    """Run the drift report (and, with labels, the performance report) on a batch."""
    from sklearn.metrics import roc_auc_score

    ref, cur = scored_frame(model, reference), scored_frame(model, current)
    drift = drift_report().run(dataset(cur), dataset(ref))
    performance = None
    if with_labels:
        reference_auc = float(roc_auc_score(ref[TARGET], ref[PREDICTION]))
        report = performance_report(reference_auc)
        performance = report.run(dataset(cur), dataset(ref))
    detection = detection_of(
        outcomes_of(drift),
        None if performance is None else outcomes_of(performance),
    )
    return MonitorResult(drift, performance, detection)


def screen(
    model: Any,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    with_labels: bool = True,
) -> Detection:
    """:func:`monitor`'s verdict on a batch, computed without an Evidently report.

    A report renders a Plotly chart per column, which is most of its cost. This
    calls the drift test the report's ``ValueDrift`` calls (Evidently's own
    ``get_stattest``: the same method choice, score and threshold), and applies
    the report's missing-value, calibration and ROC AUC limits to the same
    numbers. The tests check it agrees with :func:`monitor`.
    """
    import evidently  # noqa: F401  (initialises Evidently before its registry)
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType
    from sklearn.metrics import roc_auc_score

    ref, cur = scored_frame(model, reference), scored_frame(model, current)
    drifted = []
    for column in [*FEATURES, PREDICTION]:
        kind = (
            ColumnType.Categorical
            if column in CATEGORICAL_FEATURES
            else ColumnType.Numerical
        )
        # Evidently drops missing and infinite values before testing a column.
        ref_col = ref[column].replace([-np.inf, np.inf], np.nan).dropna()
        cur_col = cur[column].replace([-np.inf, np.inf], np.nan).dropna()
        test = get_stattest(ref_col, cur_col, kind, None)
        if test(ref_col, cur_col, kind, None).drifted:
            drifted.append(column)
    missing = [c for c in FEATURES if cur[c].isna().mean() > MAX_MISSING_SHARE]
    performance = None
    if with_labels:
        reference_auc = float(roc_auc_score(ref[TARGET], ref[PREDICTION]))
        gap = float(cur[RESIDUAL].mean())
        auc = float(roc_auc_score(cur[TARGET], cur[PREDICTION]))
        performance = abs(gap) > MAX_CALIBRATION_GAP or auc < round(
            reference_auc - MAX_AUC_DROP, 4
        )
    return Detection(
        drifted_columns=tuple(f for f in FEATURES if f in drifted),
        missing_columns=tuple(missing),
        prediction_drift=PREDICTION in drifted,
        performance_drop=performance,
    )


def weekly_summary(
    model: Any, weeks: pd.DataFrame, *, threshold: float
) -> pd.DataFrame:
    """Per week: default rate, mean prediction, AUC and the cost at ``threshold``.

    ``weeks`` is traffic from :func:`mlops_course.data.drifting_weeks`; its
    ``scenario_share`` is reported as ``drifted_share``.
    """
    from sklearn.metrics import roc_auc_score

    from mlops_course.modeling import expected_cost

    rows = []
    for week, batch in weeks.groupby("week", sort=True):
        proba = model.predict_proba(batch[FEATURES])[:, 1]
        y = batch[TARGET].to_numpy()
        rows.append(
            {
                "week": int(week),
                "drifted_share": float(batch["scenario_share"].iloc[0]),
                "default_rate": float(y.mean()),
                "mean_prediction": float(np.mean(proba)),
                "roc_auc": float(roc_auc_score(y, proba)),
                "expected_cost": expected_cost(y, proba, threshold),
            }
        )
    return pd.DataFrame(rows)
