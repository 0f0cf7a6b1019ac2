"""Did a rebuilt model reproduce the registered one? Predictions and metrics (ch. 18).

A model rebuilt from its lineage (same commit, same data hash, same
parameters) on another machine is not the same bytes: the linear algebra
kernels differ in the last bits (chapter 7). So reproduction is judged the
way the course compares models everywhere: predictions on a fixed holdout and
the metrics, each to a stated tolerance. :func:`compare` says whether both
hold and, when they do not, which row and which metric moved most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: Largest gap allowed between two probabilities of the same row.
PREDICTION_TOLERANCE = 1e-9
#: Largest gap allowed between two values of the same metric.
METRIC_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Comparison:
    """The verdict of :func:`compare`, with the evidence behind it."""

    rows: int
    max_abs_diff: float
    worst_row: int
    metric_diffs: dict[str, float] = field(default_factory=dict)
    atol: float = PREDICTION_TOLERANCE
    metric_atol: float = METRIC_TOLERANCE

    @property
    def predictions_match(self) -> bool:
        return self.max_abs_diff <= self.atol

    @property
    def metrics_match(self) -> bool:
        return all(abs(d) <= self.metric_atol for d in self.metric_diffs.values())

    @property
    def reproduced(self) -> bool:
        return self.predictions_match and self.metrics_match

    def summary(self) -> str:
        """One line: the verdict, and what broke it."""
        if self.reproduced:
            return (
                f"reproduced: {self.rows} predictions within {self.atol:g}, "
                f"{len(self.metric_diffs)} metrics within {self.metric_atol:g}"
            )
        parts = []
        if not self.predictions_match:
            parts.append(
                f"predictions differ by up to {self.max_abs_diff:.3g} "
                f"(row {self.worst_row}; tolerance {self.atol:g})"
            )
        moved = {
            k: d for k, d in self.metric_diffs.items() if abs(d) > self.metric_atol
        }
        if moved:
            worst = max(moved, key=lambda k: abs(moved[k]))
            parts.append(
                f"{len(moved)} metrics moved, most {worst} ({moved[worst]:+.3g})"
            )
        return "NOT reproduced: " + "; ".join(parts)


def compare(
    reference: np.ndarray,
    candidate: np.ndarray,
    reference_metrics: Mapping[str, float] | None = None,
    candidate_metrics: Mapping[str, float] | None = None,
    *,
    atol: float = PREDICTION_TOLERANCE,
    metric_atol: float = METRIC_TOLERANCE,
) -> Comparison:
    """Compare two models' probabilities on the same rows, and their metrics.

    Metrics are compared on the names both mappings share; a name only one
    has is an error (a metric that was not recomputed proves nothing).
    """
    reference = np.asarray(reference, dtype=float)
    candidate = np.asarray(candidate, dtype=float)
    if reference.shape != candidate.shape or reference.ndim != 1:
        raise ValueError(
            f"need two 1-D arrays of the same length, got shapes "
            f"{reference.shape} and {candidate.shape}"
        )
    if len(reference) == 0:
        raise ValueError("no rows to compare")
    if not (np.isfinite(reference).all() and np.isfinite(candidate).all()):
        raise ValueError("predictions must be finite numbers")
    gaps = np.abs(reference - candidate)
    diffs: dict[str, float] = {}
    if reference_metrics is not None or candidate_metrics is not None:
        ref, cand = dict(reference_metrics or {}), dict(candidate_metrics or {})
        if set(ref) != set(cand):
            raise ValueError(f"metrics differ in name: {sorted(set(ref) ^ set(cand))}")
        diffs = {name: float(cand[name]) - float(ref[name]) for name in sorted(ref)}
    return Comparison(
        rows=len(reference),
        max_abs_diff=float(gaps.max()),
        worst_row=int(gaps.argmax()),
        metric_diffs=diffs,
        atol=atol,
        metric_atol=metric_atol,
    )
