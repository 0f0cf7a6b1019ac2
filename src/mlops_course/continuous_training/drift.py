"""Drift statistics on samples prepared once (chapter 17).

:class:`DriftSample` holds a sample's columns sorted and counted;
:func:`drift_distance` is Evidently's default drift test for a reference of
more than 1,000 rows (the statistics of
:class:`mlops_course.retraining.DriftReference`, computed with scipy) and
:func:`drift_share` the share of features whose distance reaches 0.1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_course import data
from mlops_course.retraining import DRIFT_THRESHOLD


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
