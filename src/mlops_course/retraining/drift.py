"""Data drift measured as Evidently's default tests do, computed with scipy.

:class:`DriftReference`, :func:`feature_drift` and :func:`drift_share` run the
tests chapter 13's Evidently ``DataDriftPreset`` runs on a reference of more
than 1,000 rows (normed Wasserstein distance, or Jensen-Shannon distance,
drifted at 0.1), with scipy because the retraining simulation runs them
thousands of times; ``tests/test_retraining.py`` checks they agree with
Evidently's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from mlops_course import data

#: Evidently's default drift tests when the reference has more than 1,000 rows
#: (``evidently.legacy.calculations.stattests.registry``): the normed
#: Wasserstein distance for numbers with more than five distinct values, the
#: Jensen-Shannon distance for categories and for numbers with five or fewer.
DRIFT_THRESHOLD = 0.1
MIN_REFERENCE_ROWS = 1_001


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
