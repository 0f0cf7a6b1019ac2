"""Evaluation gates: may a challenger model replace the champion? (chapters 8, 11).

Chapter 8 (model registry workflows) runs the gate before moving the
``champion`` alias and records its verdict as model-version tags; chapter 11
(CI/CD for ML) runs the same gate in a pipeline that fails the build.

:func:`evaluate_gate` compares two models' probabilities on the *same* holdout
rows and passes the challenger only if every check passes:

- ``improvement``: the lower end of a paired bootstrap confidence interval of
  ``metric(challenger) - metric(champion)`` (from
  :func:`mlops_course.modeling.bootstrap_difference`) is above
  ``min_improvement``. A better point estimate alone is not enough.
- ``slice <name>`` (one per guard slice): the challenger loses at most
  ``max_slice_drop`` of the metric on that slice (point estimate; the interval
  is reported in the detail), so an overall gain cannot hide a group made worse.
- ``latency`` (optional): challenger time per row over champion time per row is
  at most ``max_latency_ratio``.

Bad input raises :class:`ValueError` saying what is wrong; a refused challenger
is not an error but a :class:`GateResult` with ``passed=False`` whose
:meth:`GateResult.summary` says which check failed and by how much.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss

from mlops_course.modeling import bootstrap_difference

#: Fewest rows of each class a holdout or guard slice needs to be measured.
MIN_ROWS_PER_CLASS = 20


def _auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (equals sklearn's, ties averaged; faster)."""
    positives = y_true == 1
    n_pos = int(positives.sum())
    n_neg = len(y_true) - n_pos
    ranks = rankdata(proba)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _negated(metric: Callable) -> Callable:
    def lower_is_better(y_true, proba):
        return -metric(y_true, proba)

    return lower_is_better


#: Metric name -> (score function, higher is better).
METRICS: dict[str, tuple[Callable, bool]] = {
    "roc_auc": (_auc, True),
    "average_precision": (average_precision_score, True),
    "brier": (brier_score_loss, False),
    "log_loss": (lambda y, p: log_loss(y, p, labels=[0, 1]), False),
}

_TAG_UNSAFE = re.compile(r"[^\w.\-/]")


@dataclass(frozen=True)
class Check:
    """One gate check: its verdict, the measured value and the bound it had to meet."""

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str
    estimate: float | None = None  # point estimate, when value is a bound
    low: float | None = None  # confidence interval of the estimate, if any
    high: float | None = None

    def line(self) -> str:
        """``PASS name: detail`` (or ``FAIL ...``)."""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True)
class GateResult:
    """The verdict of :func:`evaluate_gate`: passed only if every check passed."""

    passed: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Names of the checks that failed."""
        return [check.name for check in self.checks if not check.passed]

    def summary(self) -> str:
        """One line per check: PASS/FAIL, its name and what was measured."""
        return "\n".join(check.line() for check in self.checks)

    def to_frame(self) -> pd.DataFrame:
        """One row per check: name, passed, value, threshold, estimate, low, high."""
        columns = ["name", "passed", "value", "threshold", "estimate", "low", "high"]
        rows = [[getattr(check, c) for c in columns] for check in self.checks]
        return pd.DataFrame(rows, columns=columns)

    def to_tags(self, prefix: str = "gate") -> dict[str, str]:
        """String tags for ``MlflowClient().set_model_version_tag`` (4 digits).

        ``gate.passed`` and ``gate.failed_checks`` give the verdict; each check
        adds ``gate.<name>`` (pass/fail), ``.value`` and ``.threshold``. In names,
        characters MLflow refuses in tag keys become ``_`` (``slice region=north``
        gives ``gate.slice_region_north``).
        """
        tags = {
            f"{prefix}.passed": str(self.passed).lower(),
            f"{prefix}.failed_checks": ",".join(self.failed) or "none",
        }
        for check in self.checks:
            key = f"{prefix}.{_TAG_UNSAFE.sub('_', check.name)}"
            tags[key] = "pass" if check.passed else "fail"
            tags[f"{key}.value"] = f"{check.value:.4g}"
            tags[f"{key}.threshold"] = f"{check.threshold:.4g}"
        return tags


def _as_labels(y_true: object) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array, got shape {y.shape}")
    if not np.isin(y, [0, 1]).all():
        raise ValueError("y_true must hold only 0 and 1 labels")
    return y.astype(int)


def _as_proba(proba: object, name: str, n_rows: int) -> np.ndarray:
    try:
        p = np.asarray(proba, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers: {exc}") from None
    if p.ndim != 1:
        raise ValueError(f"{name} must be 1-D (P(default) per row), got {p.shape}")
    if len(p) != n_rows:
        raise ValueError(f"{name} has {len(p)} rows but y_true has {n_rows}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        bad = int((~np.isfinite(p) | (p < 0) | (p > 1)).sum())
        raise ValueError(f"{name} has {bad} value(s) outside [0, 1] (or NaN)")
    return p


def _check_classes(y: np.ndarray, where: str) -> None:
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        only = "1" if n_neg == 0 else "0"
        raise ValueError(f"{where} holds only label {only}: the metric needs both")
    if min(n_pos, n_neg) < MIN_ROWS_PER_CLASS:
        raise ValueError(
            f"{where} has {n_pos} positive and {n_neg} negative rows: at least "
            f"{MIN_ROWS_PER_CLASS} of each are needed to measure it"
        )


def _as_mask(mask: object, name: str, n_rows: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != bool:
        raise ValueError(f"guard slice {name!r} must be a boolean mask, got {m.dtype}")
    if m.shape != (n_rows,):
        raise ValueError(
            f"guard slice {name!r} has shape {m.shape}; y_true has {n_rows} rows"
        )
    if not m.any():
        raise ValueError(f"guard slice {name!r} is empty (selects no row)")
    return m


def _interval(
    metric: Callable,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float, float]:
    """(challenger - champion, low, high) as an improvement (higher is better)."""
    return bootstrap_difference(
        y,
        champion,
        challenger,
        metric=metric,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )


def evaluate_gate(
    y_true: object,
    p_challenger: object,
    p_champion: object,
    *,
    metric: str = "roc_auc",
    min_improvement: float = 0.0,
    confidence: float = 0.95,
    guard_slices: Mapping[str, object] | None = None,
    max_slice_drop: float = 0.01,
    latency_ms: tuple[float, float] | None = None,
    max_latency_ratio: float = 1.5,
    n_resamples: int = 1_000,
    seed: int = 0,
) -> GateResult:
    """May the challenger replace the champion? Both scored on the same rows.

    ``p_challenger``/``p_champion`` are P(default) per row of ``y_true``;
    ``guard_slices`` maps a name to a boolean mask over those rows;
    ``latency_ms`` is ``(challenger, champion)`` time per row. For ``brier``
    and ``log_loss`` (lower is better) differences are reported as improvements
    (champion minus challenger), so positive always means better.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if max_slice_drop < 0:
        raise ValueError(f"max_slice_drop must be >= 0, got {max_slice_drop}")
    if not max_latency_ratio > 0:
        raise ValueError(f"max_latency_ratio must be > 0, got {max_latency_ratio}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples must be at least 100, got {n_resamples}")
    y = _as_labels(y_true)
    challenger = _as_proba(p_challenger, "p_challenger", len(y))
    champion = _as_proba(p_champion, "p_champion", len(y))
    _check_classes(y, "the holdout")
    masks = {
        name: _as_mask(mask, name, len(y))
        for name, mask in (guard_slices or {}).items()
    }
    for name, mask in masks.items():
        _check_classes(y[mask], f"guard slice {name!r}")
    latency = None
    if latency_ms is not None:
        latency = tuple(float(t) for t in latency_ms)
        if len(latency) != 2 or not all(math.isfinite(t) and t > 0 for t in latency):
            raise ValueError(
                "latency_ms must be (challenger_ms, champion_ms), both positive"
            )

    score, higher_is_better = METRICS[metric]
    improvement_of = score if higher_is_better else _negated(score)
    level = f"{confidence:.0%}"
    options = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}

    diff, low, high = _interval(improvement_of, y, champion, challenger, **options)
    before, after = score(y, champion), score(y, challenger)
    checks = [
        Check(
            name="improvement",
            passed=bool(low > min_improvement),
            value=low,
            threshold=float(min_improvement),
            estimate=diff,
            low=low,
            high=high,
            detail=(
                f"{metric} {before:.4f} -> {after:.4f}, improvement {diff:+.4f} "
                f"({level} CI {low:+.4f} to {high:+.4f}); lower bound must be "
                f"> {min_improvement:+.4f}"
            ),
        )
    ]
    for name, mask in masks.items():
        diff, low, high = _interval(
            improvement_of, y[mask], champion[mask], challenger[mask], **options
        )
        checks.append(
            Check(
                name=f"slice {name}",
                passed=bool(diff >= -max_slice_drop),
                value=diff,
                threshold=-float(max_slice_drop),
                estimate=diff,
                low=low,
                high=high,
                detail=(
                    f"{int(mask.sum())} rows, {metric} improvement {diff:+.4f} "
                    f"({level} CI {low:+.4f} to {high:+.4f}); must be "
                    f">= {-max_slice_drop:+.4f}"
                ),
            )
        )
    if latency is not None:
        ratio = latency[0] / latency[1]
        checks.append(
            Check(
                name="latency",
                passed=bool(ratio <= max_latency_ratio),
                value=ratio,
                threshold=float(max_latency_ratio),
                estimate=ratio,
                detail=(
                    f"{latency[0]:.3g} ms vs {latency[1]:.3g} ms per row, ratio "
                    f"{ratio:.2f}; must be <= {max_latency_ratio:.2f}"
                ),
            )
        )
    return GateResult(passed=all(c.passed for c in checks), checks=checks)
