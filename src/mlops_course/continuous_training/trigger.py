"""The retraining trigger: :class:`TriggerPolicy` and :func:`decide` (chapter 17).

When to retrain from a model's weekly record (drift effect size with chapter
13's Evidently tests, estimated and realised cost rise, new labelled samples
since the alarm, cooldown, schedule). Pure: the same record gives the same
decision (a :class:`Verdict`), so a repeated or a missed weekly run does not
change what the trigger does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


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
      this (the label-based alarm, late; the validation cost is noisy and a
      little optimistic, and the alarm looks every week: at 0.10 it fired in
      about a fifth of the years where nothing changed, chapter 17 measures it);
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
    max_realised_rise: float | None = 0.15
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
