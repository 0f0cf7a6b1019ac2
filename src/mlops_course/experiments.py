"""Online experiments on the case study: outcomes that arrive late, running readouts.

Chapter 12 uses it for the A/B test of a challenger model. A loan's outcome
(default or not) is only known weeks after the decision: :func:`with_outcome_dates`
gives each application the date its label arrives, :func:`matured` says which
labels are in by a given date, and :func:`cumulative_readout` counts, day by
day, the approved loans whose outcome is known and how many defaulted, per
variant, with a Wilson confidence interval (statsmodels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
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
