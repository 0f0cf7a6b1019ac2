"""Online experiments on the case study: outcomes that arrive late, running readouts.

Chapter 12 uses it for the A/B test of a challenger model. A loan's outcome
(default or not) is only known weeks after the decision: :func:`with_outcome_dates`
gives each application the date its label arrives, :func:`matured` says which
labels are in by a given date, and :func:`cumulative_readout` counts, day by
day, the approved loans whose outcome is known and how many defaulted, per
variant, with a Wilson confidence interval (statsmodels).

Customers are randomised, so customers are the units of analysis:
:func:`per_unit` sums each customer's applications, and :func:`ratio_difference`
compares two arms' per-application means (total over total) with the delta
method over those units, which is what a cluster-robust standard error gives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from mlops_course.data import TARGET, TIMESTAMP_COLUMN

OUTCOME_COLUMN = "outcome_at"


def with_outcome_dates(
    frame: pd.DataFrame,
    *,
    min_days: int = 30,
    max_days: int = 90,
    seed: int = 0,
) -> pd.DataFrame:
    """``frame`` with ``outcome_at``: when each label arrives (whole days later)."""
    if not 0 <= min_days <= max_days:
        raise ValueError(f"need 0 <= min_days <= max_days, got {min_days}, {max_days}")
    rng = np.random.default_rng(seed)
    delay = rng.integers(min_days, max_days + 1, len(frame))
    out = frame.copy()
    out[OUTCOME_COLUMN] = out[TIMESTAMP_COLUMN] + pd.to_timedelta(delay, unit="D")
    return out


def matured(frame: pd.DataFrame, at: pd.Timestamp) -> pd.Series:
    """True for rows whose outcome is known at ``at``."""
    return frame[OUTCOME_COLUMN] <= at


def cumulative_readout(
    decisions: pd.DataFrame,
    days: Sequence[pd.Timestamp],
    *,
    variant_column: str = "variant",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per day and variant: approved loans with a known outcome, defaults, rate, CI.

    ``decisions`` holds one row per application with ``variant``, ``decision``
    (``approve``/``reject``), the label and ``outcome_at``. The rate is the share
    of approved, matured loans that defaulted; ``low``/``high`` bound it with a
    Wilson interval at ``1 - alpha``.
    """
    missing = {variant_column, "decision", TARGET, OUTCOME_COLUMN} - set(decisions)
    if missing:
        raise ValueError(f"decisions lack columns {sorted(missing)}")
    approved = decisions[decisions["decision"] == "approve"]
    rows = []
    for day in days:
        known = approved[approved[OUTCOME_COLUMN] <= day]
        for variant, group in known.groupby(variant_column, sort=True):
            n, k = len(group), int(group[TARGET].sum())
            low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
            rows.append(
                {
                    "day": day,
                    "variant": variant,
                    "loans": n,
                    "defaults": k,
                    "rate": k / n,
                    "low": float(low),
                    "high": float(high),
                }
            )
    columns = ["day", "variant", "loans", "defaults", "rate", "low", "high"]
    return pd.DataFrame(rows, columns=columns)


def per_unit(
    frame: pd.DataFrame, metrics: Sequence[str], *, unit: str, arm: str
) -> pd.DataFrame:
    """One row per randomised unit: its arm, its row count ``n`` and metric sums.

    Refuses a unit found in two arms: the assignment was not per unit.
    """
    missing = {unit, arm, *metrics} - set(frame)
    if missing:
        raise ValueError(f"frame lacks columns {sorted(missing)}")
    arms = frame.groupby(unit)[arm].nunique()
    if (arms > 1).any():
        raise ValueError(f"{int((arms > 1).sum())} units appear in more than one arm")
    grouped = frame.groupby(unit)
    out = grouped[list(metrics)].sum()
    out.insert(0, "n", grouped.size())
    out.insert(0, arm, grouped[arm].first())
    return out.reset_index()


def ratio_difference(
    units: pd.DataFrame,
    numerator: str,
    denominator: str,
    *,
    arm: str,
    treatment: str,
    control: str,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Treatment minus control of ``sum(numerator) / sum(denominator)``, per arm.

    ``units`` holds one row per randomised unit (:func:`per_unit`). The standard
    error is the delta method's over units: for an arm with ratio ``r``, the
    variance of ``numerator - r * denominator`` across its units, divided by the
    number of units and the squared mean denominator. Rows of one unit are
    correlated, so this is the standard error a test must use, not the one that
    treats every row as independent. Normal interval and two-sided p-value.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    out: dict[str, float] = {}
    variances = []
    for name, label in [("treatment", treatment), ("control", control)]:
        group = units[units[arm] == label]
        if len(group) < 2 or group[denominator].sum() <= 0:
            raise ValueError(f"arm {label!r} needs two units or more with data")
        y = group[numerator].to_numpy(float)
        x = group[denominator].to_numpy(float)
        ratio = y.sum() / x.sum()
        residual = y - ratio * x
        variances.append(residual.var(ddof=1) / (len(group) * x.mean() ** 2))
        out[name], out[f"{name}_units"] = float(ratio), float(len(group))
    se = float(np.sqrt(sum(variances)))
    estimate = out["treatment"] - out["control"]
    z = stats.norm.ppf(1 - alpha / 2)
    out.update(
        estimate=estimate,
        se=se,
        low=estimate - z * se,
        high=estimate + z * se,
        p_value=float(2 * stats.norm.sf(abs(estimate) / se)),
    )
    return out
