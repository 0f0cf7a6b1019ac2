"""The fast model gate: non-inferiority on ROC AUC with DeLong's interval (ch. 17).

:func:`fast_gate` applies chapter 8's non-inferiority rule with the analytic
variance of two correlated AUCs; :func:`mlops_course.gates.evaluate_gate` is
the (bootstrap) reference, and the tests check that the two agree.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata

from mlops_course import gates


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
