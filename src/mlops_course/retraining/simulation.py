"""A model served week by week, retrained when a policy says so (chapter 11).

:func:`simulate` serves, scores and (when a :class:`RetrainingPolicy` says so)
retrains a model week by week on weeks from
:func:`mlops_course.data.drifting_weeks`, with labels that arrive
``label_delay_weeks`` after the application. The model is the course's
``make_model("logreg")`` on arrays (:class:`ArrayLogistic`), so the simulation can
run over many seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

from mlops_course import data, modeling
from mlops_course.retraining.drift import DRIFT_THRESHOLD, DriftReference
from mlops_course.retraining.policy import Decision, RetrainingPolicy


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (sklearn's value, ties averaged; faster)."""
    positives = y == 1
    n_pos = int(positives.sum())
    ranks = rankdata(proba)
    return float(
        (ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(y) - n_pos))
    )


def _sample(frame: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    """A fixed random sample of at most ``n_rows`` rows (all of them if fewer)."""
    return frame if len(frame) <= n_rows else frame.sample(n_rows, random_state=0)


class _Week(NamedTuple):
    """One week's applications as arrays: what the simulation's hot loop reads."""

    numbers: np.ndarray  # the numeric features, in data.NUMERIC_FEATURES order
    one_hot: np.ndarray  # the categorical features, one column per category
    columns: dict[str, np.ndarray]  # every feature's values, for the drift tests
    y: np.ndarray


class ArrayLogistic:
    """The course's ``make_model("logreg")`` on arrays: same steps, no DataFrames.

    Median imputation and standard scaling of the numbers, one-hot categories
    and a logistic regression with scikit-learn's defaults; it gives the
    pipeline's probabilities (``tests/test_retraining.py`` checks it) about ten
    times faster, which is what lets the simulation run over many seeds.
    """

    def __init__(self, weeks: Sequence[_Week]) -> None:
        numbers = np.concatenate([w.numbers for w in weeks])
        self.median = np.nanmedian(numbers, axis=0)
        numbers = np.where(np.isnan(numbers), self.median, numbers)
        self.mean = numbers.mean(axis=0)
        scale = numbers.std(axis=0)
        self.scale = np.where(scale == 0, 1.0, scale)
        X = np.hstack([(numbers - self.mean) / self.scale, _one_hot(weeks)])
        y = np.concatenate([w.y for w in weeks])
        fitted = LogisticRegression(max_iter=1_000).fit(X, y)
        self.coef, self.intercept = fitted.coef_[0], float(fitted.intercept_[0])

    def predict(self, week: _Week) -> np.ndarray:
        numbers = np.where(np.isnan(week.numbers), self.median, week.numbers)
        X = np.hstack([(numbers - self.mean) / self.scale, week.one_hot])
        return 1.0 / (1.0 + np.exp(-(X @ self.coef + self.intercept)))


def _one_hot(weeks: Sequence[_Week]) -> np.ndarray:
    return np.concatenate([w.one_hot for w in weeks])


@dataclass
class _Model:
    """A model of the simulation: what it learnt from and what it decides with."""

    scorer: ArrayLogistic
    trained_week: int
    threshold: float
    baseline_auc: float
    reference: DriftReference


class ScenarioStream:
    """One scenario's weeks, with the models fitted on them (shared by policies)."""

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        label_delay_weeks: int,
        train_weeks: int,
        valid_weeks: int,
        reference_rows: int,
        shared: dict | None = None,
    ) -> None:
        # Models fitted before the drift's onset, shared by scenarios of one seed.
        self.shared = {} if shared is None else shared
        drifted = frame.loc[frame["scenario_share"] > 0, "week"].to_numpy()
        self.onset = int(np.min(drifted, initial=frame["week"].max() + 1))
        frame = frame.sort_values("week", kind="stable")
        starts = np.flatnonzero(np.diff(frame["week"].to_numpy(), prepend=np.nan))
        names = frame["week"].to_numpy()[starts]
        bounds = list(zip(starts, [*starts[1:], len(frame)], strict=True))
        self.frames = {
            w: frame.iloc[i:j] for w, (i, j) in zip(names, bounds, strict=True)
        }
        whole = _arrays(frame)
        self.weeks = {
            w: _Week(
                whole.numbers[i:j],
                whole.one_hot[i:j],
                {k: v[i:j] for k, v in whole.columns.items()},
                whole.y[i:j],
            )
            for w, (i, j) in zip(names, bounds, strict=True)
        }
        self.last = max(self.weeks)
        self.delay = label_delay_weeks
        self.train_weeks, self.valid_weeks = train_weeks, valid_weeks
        self.reference_rows = reference_rows
        self.models: dict[int, _Model] = {}
        self.proba_cache: dict[tuple[int, int], np.ndarray] = {}
        self.drift: dict[tuple[int, int], float] = {}

    def model(self, week: int) -> _Model:
        """The model a retrain at the start of ``week`` produces (fitted once)."""
        end = week - self.delay  # labels of weeks before this one have arrived
        if week not in self.models and end <= self.onset and week in self.shared:
            self.models[week] = self.shared[week]
        if week not in self.models:
            window = range(end - self.train_weeks, end)
            missing = [w for w in window if w not in self.weeks]
            if missing:
                raise ValueError(
                    f"a retrain in week {week} needs weeks {window.start}.."
                    f"{window.stop - 1}; give drifting_weeks more history_weeks"
                )
            split = end - self.valid_weeks
            scorer = ArrayLogistic([self.weeks[w] for w in window if w < split])
            valid = [self.weeks[w] for w in window if w >= split]
            y = np.concatenate([v.y for v in valid])
            proba = np.concatenate([scorer.predict(v) for v in valid])
            threshold, _ = modeling.best_threshold(y, proba)
            rows = pd.concat([self.frames[w] for w in window])
            self.models[week] = _Model(
                scorer,
                week,
                threshold,
                _roc_auc(y, proba),
                DriftReference(_sample(rows, self.reference_rows)),
            )
            if end <= self.onset:
                self.shared[week] = self.models[week]
        return self.models[week]

    def proba(self, model: _Model, week: int) -> np.ndarray:
        key = (model.trained_week, week)
        if key not in self.proba_cache:
            self.proba_cache[key] = model.scorer.predict(self.weeks[week])
        return self.proba_cache[key]

    def drift_share(self, model: _Model, week: int) -> float:
        key = (model.trained_week, week)
        if key not in self.drift:
            columns = self.weeks[week].columns
            drifted = [
                model.reference.test(name, columns[name])[1] >= DRIFT_THRESHOLD
                for name in model.reference.features
            ]
            self.drift[key] = float(np.mean(drifted))
        return self.drift[key]


def _arrays(frame: pd.DataFrame) -> _Week:
    columns, one_hot = {}, []
    for name in data.FEATURES:
        values = frame[name].to_numpy()
        if name in data.CATEGORICAL_FEATURES:
            values = values.astype(str)
            one_hot.append(values[:, None] == np.unique(values))
        else:
            values = values.astype(float)
        columns[name] = values
    return _Week(
        frame[data.NUMERIC_FEATURES].to_numpy(dtype=float),
        np.hstack(one_hot).astype(float),
        columns,
        frame[data.TARGET].to_numpy(),
    )


def simulate(
    weeks: pd.DataFrame,
    policy: RetrainingPolicy | None,
    *,
    label_delay_weeks: int = 17,
    train_weeks: int = 12,
    valid_weeks: int = 3,
    monitor_weeks: int = 4,
    drift_weeks: int = 2,
    reference_rows: int = 2_000,
    start: datetime = data.REFERENCE_DATE + timedelta(days=365),
    _stream: ScenarioStream | None = None,
) -> pd.DataFrame:
    """Serve weeks ``0 ..`` of ``weeks`` one by one, retraining when ``policy`` says.

    Every model, the first included, is trained the same way at the start of a
    week ``w``: on the ``train_weeks`` newest weeks whose labels have arrived
    (weeks ``w - label_delay_weeks - train_weeks`` to ``w - label_delay_weeks -
    1``), the last ``valid_weeks`` of them held out to choose its decision
    threshold (chapter 1's costs) and measure its baseline AUC. ``weeks`` must
    therefore reach back ``label_delay_weeks + train_weeks`` weeks before week 0
    (``drifting_weeks(history_weeks=...)``).

    At the start of each week the policy sees: the model's age; the drift share
    of the applications against a fixed sample of ``reference_rows`` of the
    model's training rows (Evidently's default tests, :class:`DriftReference`;
    no labels needed), the smallest of the last ``drift_weeks`` weeks' shares, so
    that only drift that persists counts; and, once labels of
    weeks the model served have arrived, its ROC AUC and calibration gap
    (observed default rate minus mean prediction) on the newest
    ``monitor_weeks`` of them. ``policy`` ``None`` never retrains. Returns one
    row per week: what was seen, the decision, and the served model's AUC and
    expected cost per application on that week.
    """
    if train_weeks <= valid_weeks or valid_weeks < 1:
        raise ValueError("need 1 <= valid_weeks < train_weeks (train, then validate)")
    if label_delay_weeks < 0 or monitor_weeks < 1 or drift_weeks < 1:
        raise ValueError(
            "label_delay_weeks must be >= 0, monitor_weeks and drift_weeks >= 1"
        )
    stream = _stream or ScenarioStream(
        weeks,
        label_delay_weeks=label_delay_weeks,
        train_weeks=train_weeks,
        valid_weeks=valid_weeks,
        reference_rows=reference_rows,
    )
    model = stream.model(0)
    rows: list[dict] = []
    for w in range(stream.last + 1):
        now = start + timedelta(weeks=w)
        share = auc = gap = None
        decision = Decision(False)
        age_days = 7 * (w - model.trained_week)
        cooling = policy is not None and age_days < (policy.cooldown_days or 0)
        if w > 0 and policy is not None:
            if policy.drift_share_threshold is not None and not cooling:
                recent = range(max(w - drift_weeks, 0), w)
                share = min(stream.drift_share(model, m) for m in recent)
            watched = (policy.min_metric, policy.max_metric_drop)
            watched += (policy.max_calibration_gap,)
            labelled = [
                m
                for m in range(w - label_delay_weeks - 1, model.trained_week - 1, -1)
                if m >= 0
            ][:monitor_weeks]
            if labelled and not cooling and any(v is not None for v in watched):
                y = np.concatenate([stream.weeks[m].y for m in labelled])
                p = np.concatenate([stream.proba(model, m) for m in labelled])
                auc = _roc_auc(y, p)
                gap = float(y.mean() - p.mean())
            decision = policy.should_retrain(
                now,
                start + timedelta(weeks=model.trained_week),
                share,
                auc,
                model.baseline_auc,
                calibration_gap=gap,
            )
        if decision.retrain:
            model = stream.model(w)
        y = stream.weeks[w].y
        proba = stream.proba(model, w)
        rows.append(
            {
                "week": w,
                "scenario_share": float(stream.frames[w]["scenario_share"].iloc[0]),
                "drift_share": share,
                "seen_auc": auc,
                "calibration_gap": gap,
                "retrained": decision.retrain,
                "triggers": ",".join(decision.triggers),
                "served_auc": _roc_auc(y, proba),
                "served_cost": modeling.expected_cost(y, proba, model.threshold),
                "model_age_weeks": w - model.trained_week,
            }
        )
    return pd.DataFrame(rows)
