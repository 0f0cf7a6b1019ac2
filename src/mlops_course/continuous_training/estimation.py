"""Label-free performance estimation: CBPE-style expected cost (chapter 17).

:func:`estimated_cost` estimates chapter 1's expected cost per application from
a calibrated model's probabilities, no labels needed.
"""

from __future__ import annotations

import numpy as np

from mlops_course import modeling


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
