"""Continuous training triggered by drift: production weeks, trigger, study (ch. 17).

Chapter 17 writes each mechanism small in the notebook first; this module holds
the tested versions it then runs over many seeds:

- :func:`production_weeks`: a year of weekly applications after a history, in
  one of four scenarios built from the course generator (:mod:`mlops_course.data`):
  ``gradual_covariate_shift`` (the generator's downturn, taking over over
  ``ramp_weeks``), ``abrupt_concept_drift`` (its changed risk relationship,
  all at once), ``harmless_drift`` (features the default does not depend on
  move) and ``seasonality`` (loan amounts swell every winter, the relationship
  unchanged, so default rates follow the season);
- :func:`estimated_cost`: confidence-based performance estimation (CBPE-style)
  of chapter 1's expected cost from a calibrated model's probabilities, no
  labels needed;
- :class:`TriggerPolicy` and :func:`decide`: when to retrain from a model's
  weekly record (drift effect size with chapter 13's Evidently tests, estimated
  and realised cost rise, new labelled samples since the alarm, cooldown,
  schedule). Pure: the same record gives the same decision, so a repeated or a
  missed weekly run does not change what the trigger does;
- :func:`fast_gate`: chapter 8's non-inferiority rule on ROC AUC with a
  vectorised paired bootstrap (:func:`mlops_course.gates.evaluate_gate` is the
  reference; the tests check they agree);
- :class:`Stream`, :func:`simulate` and :func:`study`: serve the weeks, score
  them prequentially once their labels mature ``label_delay_weeks`` later, and
  retrain (through the data and model gates) when a policy says so.

Drift is measured with :class:`mlops_course.retraining.DriftReference` (the
statistics Evidently's ``DataDriftPreset`` applies to a reference of more than
1,000 rows, computed with scipy).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from sklearn.linear_model import LogisticRegression

from mlops_course import data, gates, modeling
from mlops_course.retraining import DRIFT_THRESHOLD

__all__ = [
    "DriftSample",
    "PLANTED",
    "SCENARIOS",
    "Stream",
    "TriggerPolicy",
    "decide",
    "drift_distance",
    "drift_share",
    "estimated_cost",
    "fast_gate",
    "RECORD_COLUMNS",
    "production_weeks",
    "simulate",
    "study",
]

#: The four scenarios, and whether each plants a change that should retrain.
PLANTED = {
    "gradual_covariate_shift": True,
    "abrupt_concept_drift": True,
    "harmless_drift": False,
    "seasonality": False,
}
SCENARIOS = tuple(PLANTED)
START = data.REFERENCE_DATE + timedelta(days=365)
#: Features the harmless scenario moves: the true default model ignores them.
HARMLESS_FEATURES = ("num_open_accounts", "region")


def production_weeks(
    scenario: str,
    *,
    n_weeks: int = 52,
    rows_per_week: int = 400,
    history_weeks: int = 29,
    onset_week: int = 8,
    ramp_weeks: int = 8,
    season_amplitude: float = 0.5,
    seed: int = 0,
    start: datetime = START,
) -> pd.DataFrame:
    """Weeks ``-history_weeks .. n_weeks - 1`` of applications in ``scenario``.

    Every scenario starts from the same reference rows for one ``seed`` (one
    :func:`mlops_course.data.drift_scenario` ``"none"`` draw), so all scenarios
    of a seed share their history. Columns ``week`` and ``scenario_share`` (the
    share of the week's rows that the scenario changed; for ``seasonality``,
    how far into its peak the week is) are added.
    """
    if scenario not in PLANTED:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {SCENARIOS}")
    if n_weeks < 1 or rows_per_week < 1 or history_weeks < 0:
        raise ValueError("n_weeks, rows_per_week >= 1 and history_weeks >= 0 needed")
    if not 0 <= onset_week < n_weeks or ramp_weeks < 1:
        raise ValueError("need 0 <= onset_week < n_weeks and ramp_weeks >= 1")
    total = n_weeks + history_weeks
    first = start - timedelta(weeks=history_weeks)
    frame = _reference_rows(total * rows_per_week, seed, first, 7 * total).copy()
    elapsed = frame[data.TIMESTAMP_COLUMN] - pd.Timestamp(first)
    week = (elapsed // pd.Timedelta(weeks=1)).to_numpy().clip(0, total - 1)
    week = week - history_weeks
    rng = np.random.default_rng([seed, 17, SCENARIOS.index(scenario)])
    if scenario == "abrupt_concept_drift":
        share = (week >= onset_week).astype(float)
    else:
        share = np.clip((week - onset_week + 1) / ramp_weeks, 0.0, 1.0)
    if scenario in ("gradual_covariate_shift", "abrupt_concept_drift"):
        name = "covariate_shift" if scenario.startswith("gradual") else "concept_drift"
        after = np.flatnonzero(week >= onset_week)
        drifted = data.drift_scenario(
            name,
            len(after),
            seed=seed + 1_000_003 * (1 + SCENARIOS.index(scenario)),
            start=start + timedelta(weeks=onset_week),
            days=7 * (n_weeks - onset_week),
        ).frame
        take = rng.random(len(after)) < share[after]
        columns = [*data.FEATURES, data.TARGET]
        rows = after[take]
        frame.loc[frame.index[rows], columns] = drifted.loc[take, columns].to_numpy()
        frame = frame.astype({c: drifted[c].dtype for c in columns})
    elif scenario == "harmless_drift":
        take = rng.random(len(frame)) < share
        # A new bureau counts more open accounts; a branch merger moves half of
        # the north's applicants to the west. The true model has no term for
        # the first and the same term (zero) for both regions: labels stand.
        accounts = frame["num_open_accounts"].to_numpy().copy()
        accounts[take] += rng.poisson(3, int(take.sum()))
        region = frame["region"].to_numpy().copy()
        moved = take & (region == "north") & (rng.random(len(frame)) < 0.5)
        region[moved] = "west"
        frame = frame.assign(num_open_accounts=accounts, region=region)
    else:  # seasonality: winter borrowing, every year, history included
        share = (1 + np.cos(2 * np.pi * (week - 0) / 52)) / 2  # peaks in week 0, 52
        factor = 1 + season_amplitude * share
        term = frame["loan_term_months"].to_numpy(dtype=float)
        income = frame["annual_income"].to_numpy(dtype=float)
        loan = frame["loan_amount"].to_numpy(dtype=float)
        payment = loan / (term / 12) * 1.1  # the generator's annual payment
        dti = frame["debt_to_income"].to_numpy(dtype=float)
        frame = frame.assign(
            loan_amount=np.clip(loan * factor, 1_000, 120_000).round(-2),
            debt_to_income=np.clip(dti + (factor - 1) * payment / income, 0, 3).round(
                4
            ),
        )
        p = data.ground_truth_probability(frame)
        frame[data.TARGET] = (rng.random(len(frame)) < p).astype(int)
    return frame.assign(week=week, scenario_share=share)


@functools.lru_cache(maxsize=1)
def _reference_rows(n_rows: int, seed: int, start: datetime, days: float):
    """The reference rows of a seed, kept for its next scenario."""
    return data.drift_scenario("none", n_rows, seed=seed, start=start, days=days).frame


def estimated_cost(
    proba: np.ndarray,
    threshold: float,
    *,
    cost_missed_default: float = modeling.COST_MISSED_DEFAULT,
    cost_rejected_good: float = modeling.COST_REJECTED_GOOD,
) -> float:
    """Expected cost per application from probabilities alone (CBPE-style).

    A rejected applicant (``p >= threshold``) costs ``cost_rejected_good`` with
    probability ``1 - p``, an approved one ``cost_missed_default`` with
    probability ``p``. Unbiased only while the probabilities are calibrated on
    the current population: concept drift breaks it without moving ``p``.
    """
    p = np.asarray(proba, dtype=float)
    if p.ndim != 1 or len(p) == 0:
        raise ValueError("proba must be a non-empty 1-D array")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("proba must hold probabilities in [0, 1]")
    reject = p >= threshold
    per_row = np.where(reject, (1 - p) * cost_rejected_good, p * cost_missed_default)
    return float(per_row.mean())


@dataclass(frozen=True)
class TriggerPolicy:
    """When to retrain; ``None`` switches a signal off.

    - ``schedule_weeks``: retrain a model this many weeks old, whatever else;
    - ``drift_share``: the share of features whose drift effect size (the
      Evidently test's distance) reaches 0.1, in each of the last
      ``persist_weeks`` weeks, that counts as drift;
    - ``max_estimated_rise``: with drift, the estimated cost per application
      (:func:`estimated_cost`, last ``persist_weeks`` weeks) must exceed the
      model's validation estimate by more than this; ``None`` lets drift alone
      raise the alarm;
    - ``max_realised_rise``: the realised cost on the newest ``monitor_weeks``
      matured weeks the model served exceeds its validation cost by more than
      this (the label-based alarm, late);
    - ``max_calibration_gap``: on the same matured weeks, the observed default
      rate and the mean predicted probability differ by more than this (the
      label-based alarm for concept drift, which may leave the cost unchanged);
    - ``min_new_samples``: after an alarm, wait until this many applications
      from the alarm's weeks on have matured labels (a retrain can only learn
      the new world from those);
    - ``cooldown_weeks``: no alarm-driven retrain of a model younger than this.
    """

    schedule_weeks: int | None = None
    drift_share: float | None = 0.15
    max_estimated_rise: float | None = 0.04
    max_realised_rise: float | None = 0.10
    max_calibration_gap: float | None = 0.03
    min_new_samples: int = 2_000
    cooldown_weeks: int = 8
    persist_weeks: int = 2
    monitor_weeks: int = 6

    def __post_init__(self) -> None:
        if self.schedule_weeks is not None and self.schedule_weeks < 1:
            raise ValueError("schedule_weeks must be >= 1 (or None)")
        if self.drift_share is not None and not 0 < self.drift_share <= 1:
            raise ValueError("drift_share must be in (0, 1] (or None)")
        for name in ("max_estimated_rise", "max_realised_rise", "max_calibration_gap"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 (or None)")
        if self.min_new_samples < 0 or self.cooldown_weeks < 0:
            raise ValueError("min_new_samples and cooldown_weeks must be >= 0")
        if self.persist_weeks < 1 or self.monitor_weeks < 1:
            raise ValueError("persist_weeks and monitor_weeks must be >= 1")


@dataclass(frozen=True)
class Verdict:
    """A decision and its reason; ``alarm_since`` is the first week alarmed."""

    retrain: bool
    reason: str
    alarm_since: int | None = None


RECORD_COLUMNS = (
    "week",
    "rows",
    "drift_share",
    "estimated_cost",
    "realised_cost",
    "mean_proba",
    "default_rate",
)


def decide(
    policy: TriggerPolicy | None,
    week: int,
    record: pd.DataFrame | Mapping[str, Sequence[float]],
    *,
    trained_week: int,
    baseline_cost: float,
    baseline_estimate: float,
    label_delay_weeks: int,
    last_retrain: int | None = None,
) -> Verdict:
    """Retrain at the start of ``week``? ``record`` is the served model's history.

    ``record`` (a DataFrame or a mapping of columns) has one row per week the
    model served, in week order, with the columns of :data:`RECORD_COLUMNS`:
    ``rows`` (applications), ``drift_share``, ``estimated_cost`` and
    ``realised_cost`` per application, ``mean_proba`` and ``default_rate``. A
    week's labels are read only once they have matured (``label_delay_weeks``
    after it). The model's ``baseline_cost`` and ``baseline_estimate`` were
    measured on its validation weeks. ``last_retrain`` is the week of the last
    retrain attempt (a retrain the gate refused still restarts the schedule and
    the cooldown).
    """
    if policy is None:
        return Verdict(False, "never retrains")
    since_attempt = week - max(
        trained_week, trained_week if last_retrain is None else last_retrain
    )
    if policy.schedule_weeks is not None and since_attempt >= policy.schedule_weeks:
        return Verdict(True, f"schedule: {since_attempt} weeks since the last retrain")
    cols = {c: np.asarray(record[c], dtype=float) for c in RECORD_COLUMNS}
    keep = (cols["week"] >= trained_week) & (cols["week"] < week)
    cols = {c: v[keep] for c, v in cols.items()}
    alarms: list[tuple[int, str]] = []
    n = policy.persist_weeks
    if policy.drift_share is not None and len(cols["week"]) >= n:
        flags = cols["drift_share"] >= policy.drift_share
        rise = cols["estimated_cost"] - baseline_estimate
        if policy.max_estimated_rise is not None:
            flags &= rise > policy.max_estimated_rise
        runs = np.convolve(flags, np.ones(n), mode="valid") == n  # n in a row
        if runs[-1]:
            what = f"drift share >= {policy.drift_share:.0%} for {n} weeks"
            if policy.max_estimated_rise is not None:
                what += f", estimated cost {rise[-n:].mean():+.3f}"
            alarms.append((int(cols["week"][np.argmax(runs)]), what))
    matured = cols["week"] <= week - label_delay_weeks - 1
    if matured.any():
        # Pooled over the newest `monitor_weeks` matured weeks, for each week
        # the monitor has seen mature; an alarm dates from the first window of
        # the run of alarmed windows that reaches today.
        k = policy.monitor_weeks
        rows = cols["rows"][matured]
        weights = np.ones(min(k, len(rows)))

        def pooled(column: str) -> np.ndarray:
            total = np.convolve(cols[column][matured] * rows, weights)[: len(rows)]
            return total / np.convolve(rows, weights)[: len(rows)]

        weeks_seen = cols["week"][matured]
        starts = weeks_seen[np.maximum(np.arange(len(rows)) - k + 1, 0)]
        checks = []
        if policy.max_realised_rise is not None:
            rise = pooled("realised_cost") - baseline_cost
            checks.append((rise > policy.max_realised_rise, rise, "realised cost"))
        if policy.max_calibration_gap is not None:
            gap = pooled("default_rate") - pooled("mean_proba")
            checks.append(
                (np.abs(gap) > policy.max_calibration_gap, gap, "calibration gap")
            )
        for flags, value, what in checks:
            if flags[-1]:
                calm = np.flatnonzero(~flags)
                first = calm[-1] + 1 if len(calm) else 0
                alarms.append((int(starts[first]), f"{what} {value[-1]:+.3f}"))
    if not alarms:
        return Verdict(False, "no alarm")
    since = min(w for w, _ in alarms)
    reason = "; ".join(a for _, a in alarms)
    learnable = int(cols["rows"][matured & (cols["week"] >= since)].sum())
    if since_attempt < policy.cooldown_weeks:
        return Verdict(
            False,
            f"{reason}; cooldown ({since_attempt} of {policy.cooldown_weeks} weeks)",
            since,
        )
    if learnable < policy.min_new_samples:
        return Verdict(
            False,
            f"{reason}; waiting for labels ({learnable} of "
            f"{policy.min_new_samples} new samples since week {since})",
            since,
        )
    return Verdict(True, f"{reason}; {learnable} new samples since week {since}", since)


def _placements(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: per positive, the share of negatives it
    outranks; per negative, the share of positives that outrank it (ties 1/2)."""
    positive = y == 1
    ranks = rankdata(p)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    v10 = (ranks[positive] - rankdata(p[positive])) / n_neg
    v01 = 1 - (ranks[~positive] - rankdata(p[~positive])) / n_pos
    return v10, v01


def fast_gate(
    y_true: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray,
    *,
    margin: float = gates.NON_INFERIORITY_MARGIN,
    confidence: float = 0.95,
) -> tuple[bool, float, float, float]:
    """Chapter 8's non-inferiority rule on ROC AUC, with DeLong's interval.

    Returns ``(passed, change, low, high)``: the challenger's AUC gain over the
    champion on the same rows, its paired confidence interval by DeLong's method
    (the analytic variance of two correlated AUCs, no resampling), and whether
    the lower end is above ``-margin``. :func:`mlops_course.gates.evaluate_gate`
    applies the same rule with a paired bootstrap interval, about a thousand
    times slower; the tests and chapter 17 check that the two agree.
    """
    y = np.asarray(y_true).astype(int)
    new, old = np.asarray(p_challenger, float), np.asarray(p_champion, float)
    if not (len(y) == len(new) == len(old)) or len(y) == 0:
        raise ValueError("y_true and both probability arrays need the same rows")
    if y.min() == y.max():
        raise ValueError("the holdout needs both labels")
    v10_new, v01_new = _placements(y, new)
    v10_old, v01_old = _placements(y, old)
    change = float(v10_new.mean() - v10_old.mean())
    d10, d01 = v10_new - v10_old, v01_new - v01_old
    variance = d10.var(ddof=1) / len(d10) + d01.var(ddof=1) / len(d01)
    half = float(norm.ppf((1 + confidence) / 2) * np.sqrt(variance))
    low, high = change - half, change + half
    return bool(low > -margin), change, low, high


# -- the simulation ---------------------------------------------------------

_CATEGORIES = {
    "home_ownership": sorted(data.HOME_OWNERSHIP),
    "loan_purpose": sorted([*data.LOAN_PURPOSE, data.NEW_PURPOSE]),
    "region": sorted(data.REGIONS),
}


class DriftSample:
    """One sample's columns prepared for drift tests: sorted values, key counts."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.sorted: dict[str, np.ndarray] = {}
        self.keys: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.std: dict[str, float] = {}
        for name in data.FEATURES:
            values = frame[name].to_numpy()
            if name in data.CATEGORICAL_FEATURES:
                values = values.astype(object)
                values = values[pd.notna(values)].astype(str)
                self.keys[name] = np.unique(values, return_counts=True)
                continue
            values = np.sort(values.astype(float))
            values = values[~np.isnan(values)]
            self.sorted[name] = values
            self.std[name] = max(float(np.std(values)), 0.001)
            starts = np.flatnonzero(np.diff(values, prepend=np.nan) != 0)
            if len(starts) <= 5:  # few values: their counts (a JS test may need them)
                counts = np.diff(np.append(starts, len(values)))
                self.keys[name] = (values[starts], counts)
            else:  # many values: only "more than five" matters
                self.keys[name] = (values[starts[:6]], np.ones(6))


def drift_distance(reference: DriftSample, current: DriftSample, name: str) -> float:
    """Evidently's default test for a reference of more than 1,000 rows.

    The same statistic as :meth:`mlops_course.retraining.DriftReference.test`
    (normed Wasserstein for numbers with more than five distinct values,
    Jensen-Shannon otherwise), on samples prepared once (:class:`DriftSample`).
    """
    ref_keys, ref_counts = reference.keys[name]
    cur_keys, cur_counts = current.keys[name]
    numeric = name in reference.sorted
    if numeric and (len(ref_keys) > 5 or len(cur_keys) > 5):
        many = True
    else:
        keys = np.union1d(ref_keys, cur_keys)
        many = numeric and len(keys) > 5
    if many:
        ref, cur = reference.sorted[name], current.sorted[name]
        both = np.sort(np.concatenate([ref, cur]), kind="stable")
        F = np.searchsorted(ref, both[:-1], side="right") / len(ref)
        G = np.searchsorted(cur, both[:-1], side="right") / len(cur)
        return float(np.sum(np.abs(F - G) * np.diff(both)) / reference.std[name])
    p = np.zeros(len(keys))
    q = np.zeros(len(keys))
    p[np.searchsorted(keys, ref_keys)] = ref_counts / ref_counts.sum()
    q[np.searchsorted(keys, cur_keys)] = cur_counts / cur_counts.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2, 0.0)))


def drift_share(reference: DriftSample, current: DriftSample) -> float:
    """Share of the features whose drift distance reaches 0.1 (drifted)."""
    drifted = [
        drift_distance(reference, current, f) >= DRIFT_THRESHOLD for f in data.FEATURES
    ]
    return float(np.mean(drifted))


def _one_hot(frame: pd.DataFrame) -> np.ndarray:
    return np.hstack(
        [
            frame[c].to_numpy().astype(str)[:, None] == np.array(v)
            for c, v in _CATEGORIES.items()
        ]
    )


class _Scorer:
    """Chapter 1's logistic regression on arrays: impute, scale, fit.

    The same model as ``modeling.make_model("logreg")`` (median imputation,
    standard scaling, one-hot categories, L2 with C=1); Newton's method finds
    the same optimum as the default solver in a few steps.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        k = len(data.NUMERIC_FEATURES)
        self.median = np.nanmedian(X[:, :k], axis=0)
        X = self._impute(X)
        self.mean, scale = X[:, :k].mean(axis=0), X[:, :k].std(axis=0)
        self.scale = np.where(scale == 0, 1.0, scale)
        fitted = LogisticRegression(solver="newton-cholesky").fit(self._scale(X), y)
        self.coef, self.intercept = fitted.coef_[0], float(fitted.intercept_[0])

    def _impute(self, X: np.ndarray) -> np.ndarray:
        k = len(data.NUMERIC_FEATURES)
        numbers = np.where(np.isnan(X[:, :k]), self.median, X[:, :k])
        return np.hstack([numbers, X[:, k:]])

    def _scale(self, X: np.ndarray) -> np.ndarray:
        k = len(data.NUMERIC_FEATURES)
        return np.hstack([(X[:, :k] - self.mean) / self.scale, X[:, k:]])

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = self._scale(self._impute(X)) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Model:
    """A model of the simulation: when it was trained and what it measured then."""

    scorer: _Scorer
    trained_week: int
    threshold: float
    baseline_cost: float
    baseline_estimate: float
    holdout: tuple[int, ...]  # its validation weeks (the gate's holdout)
    reference: DriftSample


class Stream:
    """One scenario's weeks for one seed, with every model fitted on them (cached).

    A retrain at the start of week ``w`` learns from the ``train_weeks`` newest
    weeks whose labels have matured (up to ``w - label_delay_weeks - 1``); the
    last ``valid_weeks`` of them choose its threshold (chapter 1's costs), give
    its baseline cost and serve as the gate's holdout. Its drift reference is a
    fixed sample of ``reference_rows`` of those weeks.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        label_delay_weeks: int = 17,
        train_weeks: int = 12,
        valid_weeks: int = 3,
        reference_rows: int = 1_500,
        shared: dict | None = None,
    ) -> None:
        if not 1 <= valid_weeks < train_weeks:
            raise ValueError("need 1 <= valid_weeks < train_weeks")
        if reference_rows <= 1_000:
            raise ValueError("reference_rows must exceed 1,000 (Evidently's tests)")
        frame = frame.sort_values("week", kind="stable").reset_index(drop=True)
        weeks = frame["week"].to_numpy()
        starts = np.flatnonzero(np.diff(weeks, prepend=weeks[0] - 1))
        bounds = dict(
            zip(
                weeks[starts].tolist(),
                zip(starts, [*starts[1:], len(frame)], strict=True),
                strict=True,
            )
        )
        X = np.hstack([frame[data.NUMERIC_FEATURES].to_numpy(float), _one_hot(frame)])
        y = frame[data.TARGET].to_numpy()
        self.frame = frame
        self.bounds = {int(w): (int(i), int(j)) for w, (i, j) in bounds.items()}
        self.X = {w: X[i:j] for w, (i, j) in self.bounds.items()}
        self.y = {w: y[i:j] for w, (i, j) in self.bounds.items()}
        self.first, self.last = min(self.bounds), max(self.bounds)
        self.delay, self.train_weeks = label_delay_weeks, train_weeks
        self.valid_weeks, self.reference_rows = valid_weeks, reference_rows
        self.models: dict[int, Model] = {}
        # Models that learnt only weeks before the change are the same in every
        # scenario of a seed: ``shared`` (one dict per seed) keeps them.
        changed = frame.loc[frame["scenario_share"] > 0, "week"]
        self.onset = int(changed.min()) if len(changed) else self.last + 1
        self.shared = {} if shared is None else shared
        self._samples: dict[int, DriftSample] = {}
        self._proba: dict[tuple[int, int], np.ndarray] = {}
        self._drift: dict[tuple[int, int], float] = {}

    def rows(self, week: int) -> pd.DataFrame:
        i, j = self.bounds[week]
        return self.frame.iloc[i:j]

    def window(self, week: int) -> list[int]:
        """The weeks a retrain at the start of ``week`` learns from."""
        end = week - self.delay
        window = list(range(end - self.train_weeks, end))
        if window[0] < self.first:
            raise ValueError(
                f"a retrain in week {week} needs week {window[0]}; the stream "
                f"starts in week {self.first}: give it more history_weeks"
            )
        return window

    def model(self, week: int) -> Model:
        """The model a retrain at the start of ``week`` produces (fitted once)."""
        unchanged = self.window(week)[-1] < self.onset
        if week not in self.models and unchanged and week in self.shared:
            self.models[week] = self.shared[week]
        if week not in self.models:
            window = self.window(week)
            fit, valid = window[: -self.valid_weeks], window[-self.valid_weeks :]
            scorer = _Scorer(
                np.vstack([self.X[w] for w in fit]),
                np.concatenate([self.y[w] for w in fit]),
            )
            y = np.concatenate([self.y[w] for w in valid])
            p = scorer.predict(np.vstack([self.X[w] for w in valid]))
            threshold, cost = modeling.best_threshold(y, p)
            i, j = self.bounds[window[0]][0], self.bounds[window[-1]][1]
            rows = self.frame.iloc[i:j]
            if len(rows) > self.reference_rows:
                rows = rows.sample(self.reference_rows, random_state=0)
            self.models[week] = Model(
                scorer,
                week,
                threshold,
                cost,
                estimated_cost(p, threshold),
                tuple(valid),
                DriftSample(rows),
            )
            if unchanged:
                self.shared[week] = self.models[week]
        return self.models[week]

    def proba(self, model: Model, week: int) -> np.ndarray:
        key = (model.trained_week, week)
        if key not in self._proba:
            self._proba[key] = model.scorer.predict(self.X[week])
        return self._proba[key]

    def drift_share(self, model: Model, week: int) -> float:
        """Share of drifted features of ``week`` against ``model``'s reference."""
        key = (model.trained_week, week)
        if key not in self._drift:
            if week not in self._samples:
                self._samples[week] = DriftSample(self.rows(week))
            self._drift[key] = drift_share(model.reference, self._samples[week])
        return self._drift[key]


def simulate(stream: Stream, policy: TriggerPolicy | None) -> pd.DataFrame:
    """Serve weeks ``0 ..`` of ``stream``; retrain through the gate when told.

    At the start of each week, :func:`decide` reads the served model's record.
    A retrain fits a challenger (:meth:`Stream.model`), and the model gate
    (:func:`fast_gate` on the challenger's holdout weeks, the champion scored on
    the same rows) decides whether it serves. Returns one row per week:
    applications, the served model's week, drift share (only for a policy that
    watches drift), estimated and realised cost per application (prequential:
    the model that served the week, scored on the week's labels once they
    mature), whether a retrain ran, whether the gate promoted it, and why.
    """
    champion = stream.model(0)
    last_retrain = 0
    records: list[dict] = []
    watch = policy is not None and policy.drift_share is not None
    for w in range(0, stream.last + 1):
        retrained = promoted = False
        reason = ""
        if w > 0 and policy is not None:
            mine = [r for r in records if r["model_week"] == champion.trained_week]
            verdict = decide(
                policy,
                w,
                {c: [r[c] for r in mine] for c in RECORD_COLUMNS},
                trained_week=champion.trained_week,
                baseline_cost=champion.baseline_cost,
                baseline_estimate=champion.baseline_estimate,
                label_delay_weeks=stream.delay,
                last_retrain=last_retrain,
            )
            reason = verdict.reason
            if verdict.retrain:
                retrained, last_retrain = True, w
                challenger = stream.model(w)
                y = np.concatenate([stream.y[v] for v in challenger.holdout])
                p_new = np.concatenate(
                    [stream.proba(challenger, v) for v in challenger.holdout]
                )
                p_old = np.concatenate(
                    [stream.proba(champion, v) for v in challenger.holdout]
                )
                promoted, *_ = fast_gate(y, p_new, p_old)
                if promoted:
                    champion = challenger
        y, p = stream.y[w], stream.proba(champion, w)
        records.append(
            {
                "week": w,
                "rows": len(y),
                "model_week": champion.trained_week,
                "drift_share": stream.drift_share(champion, w) if watch else np.nan,
                "estimated_cost": estimated_cost(p, champion.threshold),
                "realised_cost": modeling.expected_cost(y, p, champion.threshold),
                "mean_proba": float(p.mean()),
                "default_rate": float(y.mean()),
                "retrained": retrained,
                "promoted": promoted,
                "reason": reason,
            }
        )
    return pd.DataFrame(records)


def study(
    policies: Mapping[str, TriggerPolicy | None],
    scenarios: Sequence[str],
    seeds: Sequence[int],
    *,
    retrain_price: float = 100.0,
    timelines: dict | None = None,
    **weeks,
) -> pd.DataFrame:
    """Every policy on every scenario and seed, on the same weeks (paired).

    One row per (seed, scenario, policy): retrains, promotions, the decision
    cost over the served weeks (sum of the weekly cost per application times
    the week's applications, in lost margins), the price of the retrains and
    their sum, ``total_cost``. Pass a dict as ``timelines`` to keep each weekly
    table under ``(seed, scenario, policy)``. ``weeks`` go to
    :func:`production_weeks` (and ``label_delay_weeks``, ``train_weeks`` to
    :class:`Stream`).
    """
    stream_options = {
        k: weeks.pop(k)
        for k in ("label_delay_weeks", "train_weeks", "valid_weeks", "reference_rows")
        if k in weeks
    }
    delay = stream_options.get("label_delay_weeks", 17)
    train = stream_options.get("train_weeks", 12)
    weeks.setdefault("history_weeks", delay + train)
    rows = []
    for seed in seeds:
        shared: dict = {}
        for scenario in scenarios:
            stream = Stream(
                production_weeks(scenario, seed=seed, **weeks),
                shared=shared,
                **stream_options,
            )
            for label, policy in policies.items():
                timeline = simulate(stream, policy)
                if timelines is not None:
                    timelines[seed, scenario, label] = timeline
                decision = float((timeline["realised_cost"] * timeline["rows"]).sum())
                retrains = int(timeline["retrained"].sum())
                rows.append(
                    {
                        "seed": seed,
                        "scenario": scenario,
                        "policy": label,
                        "retrains": retrains,
                        "promotions": int(timeline["promoted"].sum()),
                        "decision_cost": decision,
                        "retrain_cost": retrain_price * retrains,
                        "total_cost": decision + retrain_price * retrains,
                    }
                )
    return pd.DataFrame(rows)
