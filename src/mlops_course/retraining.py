"""When to retrain: schedule, data drift and performance triggers (chapter 11).

Chapter 11 (CI/CD for ML) uses this module for the retraining trigger of its
pipeline and plots the simulated timeline; Phase 3's continuous-training
chapter reuses the same policy and simulation.

- :class:`RetrainingPolicy` and :func:`should_retrain` turn four observations
  (model age, share of drifted features, current and baseline metric) into a
  :class:`Decision` with a human-readable reason per trigger that fired. Pure
  and deterministic: the clock is an argument, never ``now()``.
- :class:`DriftReference`, :func:`feature_drift` and :func:`drift_share` measure
  data drift with the tests chapter 13's Evidently ``DataDriftPreset`` runs on
  a reference of more than 1,000 rows (normed Wasserstein distance, or
  Jensen-Shannon distance, drifted at 0.1), computed with scipy because the
  simulation runs them thousands of times; ``tests/test_retraining.py`` checks
  they agree with Evidently's.
- :func:`drifting_weeks` makes weeks of applications in which one of the
  generator's drift scenarios takes over gradually; :func:`simulate` serves,
  scores and (when a policy says so) retrains a model week by week, with labels
  that arrive ``label_delay_weeks`` after the application;
  :func:`compare_policies` runs several policies over many seeds and
  :func:`paired_difference` compares two of them with an interval.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import rankdata
from scipy.stats import t as student_t
from sklearn.linear_model import LogisticRegression

from mlops_course import data, modeling

__all__ = [
    "ArrayLogistic",
    "Decision",
    "DriftReference",
    "RetrainingPolicy",
    "ScenarioStream",
    "compare_policies",
    "drift_share",
    "drifting_weeks",
    "feature_drift",
    "paired_difference",
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


#: Evidently's default drift tests when the reference has more than 1,000 rows
#: (``evidently.legacy.calculations.stattests.registry``): the normed
#: Wasserstein distance for numbers with more than five distinct values, the
#: Jensen-Shannon distance for categories and for numbers with five or fewer.
DRIFT_THRESHOLD = 0.1
MIN_REFERENCE_ROWS = 1_001


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (sklearn's value, ties averaged; faster)."""
    positives = y == 1
    n_pos = int(positives.sum())
    ranks = rankdata(proba)
    return float(
        (ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(y) - n_pos))
    )


class DriftReference:
    """A reference sample prepared once for many drift tests against it.

    The tests are Evidently's defaults for a reference of more than 1,000 rows:
    for a number with more than five distinct values (reference and current
    together), the Wasserstein distance between the two samples divided by the
    reference's standard deviation ("normed"); for a category, or a number with
    five values or fewer, the Jensen-Shannon distance between the two
    frequency tables (natural log). Missing values are dropped first.
    """

    def __init__(
        self, reference: pd.DataFrame, features: Sequence[str] = tuple(data.FEATURES)
    ) -> None:
        self.features = list(features)
        self.sorted: dict[str, np.ndarray] = {}
        self.norms: dict[str, float] = {}
        self.counts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in self.features:
            values = _values(reference[name], name)
            if len(values) < MIN_REFERENCE_ROWS:
                raise ValueError(
                    f"the reference needs more than 1,000 rows in {name!r} (Evidently "
                    f"picks other tests below that), got {len(values)}"
                )
            self.counts[name] = np.unique(values, return_counts=True)
            if name not in data.CATEGORICAL_FEATURES:
                self.sorted[name] = np.sort(values)
                self.norms[name] = max(float(np.std(values)), 0.001)

    def test(self, name: str, current: pd.Series | np.ndarray) -> tuple[str, float]:
        """``(method, distance)`` of one column of a current batch."""
        values = _values(current, name)
        if len(values) == 0:
            raise ValueError(f"the current batch has no values in {name!r}")
        ref_keys, ref_counts = self.counts[name]
        cur_keys, cur_counts = np.unique(values, return_counts=True)
        keys = np.union1d(ref_keys, cur_keys)
        if name in self.sorted and len(keys) > 5:
            ref, cur = self.sorted[name], np.sort(values)
            both = np.sort(np.concatenate([ref, cur]), kind="stable")
            F = np.searchsorted(ref, both[:-1], side="right") / len(ref)
            G = np.searchsorted(cur, both[:-1], side="right") / len(cur)
            distance = np.sum(np.abs(F - G) * np.diff(both)) / self.norms[name]
            return "wasserstein", float(distance)
        p = np.zeros(len(keys))
        q = np.zeros(len(keys))
        p[np.searchsorted(keys, ref_keys)] = ref_counts / ref_counts.sum()
        q[np.searchsorted(keys, cur_keys)] = cur_counts / cur_counts.sum()
        return "jensenshannon", float(jensenshannon(p, q))

    def table(
        self, current: pd.DataFrame, *, threshold: float = DRIFT_THRESHOLD
    ) -> pd.DataFrame:
        """Per feature: the test, its distance and whether it drifted."""
        rows = []
        for name in self.features:
            method, distance = self.test(name, current[name])
            rows.append((name, method, distance, distance >= threshold))
        return pd.DataFrame(rows, columns=["feature", "method", "distance", "drifted"])


def _values(column: pd.Series | np.ndarray, name: str) -> np.ndarray:
    """A column's values without missing ones: floats, or strings for categories."""
    values = np.asarray(column)
    if name in data.CATEGORICAL_FEATURES:
        values = values.astype(object)
        return values[pd.notna(values)].astype(str)
    values = values.astype(float)
    return values[~np.isnan(values)]


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] = tuple(data.FEATURES),
    *,
    threshold: float = DRIFT_THRESHOLD,
) -> pd.DataFrame:
    """Per feature: Evidently's default test, its distance, and whether it drifted."""
    return DriftReference(reference, features).table(current, threshold=threshold)


def drift_share(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] = tuple(data.FEATURES),
    *,
    threshold: float = DRIFT_THRESHOLD,
) -> float:
    """Share of ``features`` whose drift test fails (Evidently's ``drift_share``)."""
    table = feature_drift(reference, current, features, threshold=threshold)
    return float(table["drifted"].mean())


def drifting_weeks(
    n_weeks: int,
    *,
    scenario: str = "covariate_shift",
    onset_week: int = 8,
    ramp_weeks: int = 4,
    rows_per_week: int = 1_000,
    history_weeks: int = 0,
    seed: int = 0,
    start: datetime = data.REFERENCE_DATE + timedelta(days=365),
) -> pd.DataFrame:
    """Applications week by week, in which ``scenario`` replaces the reference process.

    Weeks ``-history_weeks .. -1`` come before ``start`` (the history the first
    model learns from), weeks ``0 .. n_weeks - 1`` after it. Before
    ``onset_week`` every row comes from the reference process; the share of
    ``scenario`` rows then grows linearly to 100% over ``ramp_weeks`` weeks. The
    frame has a ``week`` and a ``scenario_share`` column. The reference rows
    depend on ``seed`` only, so two scenarios with one seed share their history
    and every week before the onset.
    """
    if n_weeks < 1 or rows_per_week < 1 or history_weeks < 0:
        raise ValueError(
            "n_weeks and rows_per_week must be at least 1, history_weeks >= 0"
        )
    if onset_week < 0 or ramp_weeks < 1:
        raise ValueError("onset_week must be >= 0 and ramp_weeks >= 1")
    total = n_weeks + history_weeks
    first = start - timedelta(weeks=history_weeks)
    period = {"start": first, "days": 7 * total}
    frame = _reference_rows(total * rows_per_week, seed, first, 7 * total).copy()
    elapsed = frame[data.TIMESTAMP_COLUMN] - pd.Timestamp(first)
    week = (elapsed // pd.Timedelta(weeks=1)).to_numpy().clip(0, total - 1)
    week = week - history_weeks
    share = np.clip((week - onset_week + 1) / ramp_weeks, 0.0, 1.0)
    if share.any() and scenario != "none":
        # A seed apart from the reference rows' (and per scenario), never reused.
        offset = 1 + sorted(data.SCENARIOS).index(scenario)
        drifted = data.drift_scenario(
            scenario, len(frame), seed=seed + 1_000_003 * offset, **period
        ).frame
        take = np.random.default_rng([seed, offset]).random(len(frame)) < share
        columns = [*data.FEATURES, data.TARGET]
        frame.loc[take, columns] = drifted.loc[take, columns].to_numpy()
        frame = frame.astype({c: drifted[c].dtype for c in columns})
    return frame.assign(week=week, scenario_share=share)


@functools.lru_cache(maxsize=1)
def _reference_rows(n_rows: int, seed: int, start: datetime, days: float):
    """The reference process's rows (kept for the next scenario of the same seed)."""
    return data.drift_scenario("none", n_rows, seed=seed, start=start, days=days).frame


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


def compare_policies(
    policies: Mapping[str, RetrainingPolicy | None],
    scenarios: Sequence[str],
    seeds: Sequence[int],
    *,
    n_weeks: int,
    rows_per_week: int,
    onset_week: int = 8,
    ramp_weeks: int = 4,
    label_delay_weeks: int = 17,
    train_weeks: int = 12,
    valid_weeks: int = 3,
    monitor_weeks: int = 4,
    drift_weeks: int = 2,
    reference_rows: int = 2_000,
) -> pd.DataFrame:
    """Every policy on every scenario and seed: one row per (seed, scenario, policy).

    All policies of one seed and scenario serve the same weeks (a paired design),
    and share the models they happen to fit in the same week. Each row has the
    mean expected cost per application and mean ROC AUC from ``onset_week`` on,
    the number of retrains, the week of the first (NaN if none), the weeks of
    all of them and the triggers that fired.
    """
    rows = []
    history = label_delay_weeks + train_weeks
    for seed in seeds:
        shared: dict = {}  # models fitted before the onset serve every scenario
        for scenario in scenarios:
            frame = drifting_weeks(
                n_weeks,
                scenario=scenario,
                onset_week=onset_week,
                ramp_weeks=ramp_weeks,
                rows_per_week=rows_per_week,
                history_weeks=history,
                seed=seed,
            )
            stream = ScenarioStream(
                frame,
                label_delay_weeks=label_delay_weeks,
                train_weeks=train_weeks,
                valid_weeks=valid_weeks,
                reference_rows=reference_rows,
                shared=shared,
            )
            for label, policy in policies.items():
                timeline = simulate(
                    frame,
                    policy,
                    label_delay_weeks=label_delay_weeks,
                    train_weeks=train_weeks,
                    valid_weeks=valid_weeks,
                    monitor_weeks=monitor_weeks,
                    drift_weeks=drift_weeks,
                    _stream=stream,
                )
                after = timeline[timeline["week"] >= onset_week]
                fired = {t for ts in timeline["triggers"] for t in ts.split(",") if t}
                rows.append(
                    {
                        "seed": seed,
                        "scenario": scenario,
                        "policy": label,
                        "cost": float(after["served_cost"].mean()),
                        "auc": float(after["served_auc"].mean()),
                        "retrains": int(timeline["retrained"].sum()),
                        "first_retrain": timeline.loc[
                            timeline["retrained"], "week"
                        ].min(),
                        "retrain_weeks": tuple(
                            int(w) for w in timeline.loc[timeline["retrained"], "week"]
                        ),
                        "triggers": ",".join(t for t in TRIGGERS if t in fired),
                    }
                )
    return pd.DataFrame(rows)


def paired_difference(
    results: pd.DataFrame,
    policy: str,
    baseline: str,
    *,
    value: str = "cost",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per scenario: mean of ``policy - baseline`` over seeds, with a t interval.

    The seed is the unit: both policies served the same weeks of each seed, so
    the differences are paired.
    """
    table = results.pivot_table(
        index=["scenario", "seed"], columns="policy", values=value
    )
    diff = (table[policy] - table[baseline]).groupby(level="scenario", sort=False)
    out = []
    for scenario, values in diff:
        n = len(values)
        if n < 2:
            raise ValueError("an interval needs at least two seeds")
        half = student_t.ppf((1 + confidence) / 2, n - 1) * values.std(ddof=1)
        half /= math.sqrt(n)
        mean = float(values.mean())
        out.append(
            {
                "scenario": scenario,
                "policy": policy,
                "baseline": baseline,
                "mean": mean,
                "low": mean - half,
                "high": mean + half,
                "seeds": n,
            }
        )
    return pd.DataFrame(out)
