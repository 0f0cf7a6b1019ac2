"""A fairness check for the promotion gate: refuse a model that widens a gap (ch. 21).

Chapter 21 measures, per group of a sensitive attribute, how often the model
refuses applicants and how often it errs (with fairlearn's ``MetricFrame``),
then adds this check to chapter 8's evaluation gate
(:func:`mlops_course.gates.evaluate_gate`).

Decisions are 0/1 arrays with 1 = *refuse* (the model predicts a default), the
same orientation as the ``default`` label, so fairlearn's names apply as they
are: the *selection rate* is the refusal rate, a *false positive* is a good
applicant refused, a *false negative* a defaulter approved.

A *gap* is the largest difference between two groups (fairlearn's
``between_groups`` difference):

- ``demographic_parity``: of the refusal rate;
- ``equalized_odds``: the larger of the gaps in false-positive rate and in
  true-positive rate (equivalently, false-negative rate);
- ``false_positive_rate``, ``false_negative_rate``: of that rate alone.

:func:`fairness_check` compares a challenger's gap with the champion's on the
*same* holdout rows, resampling applicants together for both models (a paired
bootstrap), and refuses only on **evidence** that the challenger widens the gap:
when the *lower* end of the interval of ``gap(challenger) - gap(champion)`` is
above ``max_widening``. A widening the data cannot tell from noise passes, as a
slice does in chapter 8's gate. :func:`with_fairness` appends the check to a
:class:`~mlops_course.gates.GateResult`, so its verdict, tags and
:func:`~mlops_course.gates.check_promotable` work unchanged.

Bad input raises :class:`ValueError` saying what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mlops_course.gates import MIN_ROWS_PER_CLASS, Check, GateResult

#: The gaps :func:`gap` measures.
GAP_METRICS = (
    "demographic_parity",
    "equalized_odds",
    "false_positive_rate",
    "false_negative_rate",
)

#: How much a challenger may widen a gap (evidence beyond this refuses it).
MAX_WIDENING = 0.0


def _as_binary(values: object, name: str, n_rows: int | None = None) -> np.ndarray:
    v = np.asarray(values)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {v.shape}")
    if n_rows is not None and len(v) != n_rows:
        raise ValueError(f"{name} has {len(v)} rows but y_true has {n_rows}")
    if not np.isin(v, [0, 1]).all():
        raise ValueError(f"{name} must hold only 0 and 1 (1 = default / refuse)")
    return v.astype(int)


def _as_groups(group: object, n_rows: int) -> tuple[np.ndarray, list[str]]:
    g = pd.Series(np.asarray(group, dtype=object))
    if len(g) != n_rows:
        raise ValueError(f"group has {len(g)} rows but y_true has {n_rows}")
    if g.isna().any():
        raise ValueError(f"group has {int(g.isna().sum())} missing value(s)")
    codes, names = pd.factorize(g.astype(str), sort=True)
    if len(names) < 2:
        raise ValueError("group must hold at least two groups to compare")
    return codes, [str(n) for n in names]


def _cells(y: np.ndarray, refuse: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Cell id per row: group * 4 + label * 2 + decision."""
    return codes * 4 + y * 2 + refuse


def _rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group rates from counts shaped (..., groups, label, decision)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n = counts.sum(axis=(-2, -1))
        refused = counts[..., 1].sum(axis=-1)
        goods, bads = counts[..., 0, :].sum(axis=-1), counts[..., 1, :].sum(axis=-1)
        return {
            "count": n,
            "selection_rate": refused / n,
            "false_positive_rate": counts[..., 0, 1] / goods,
            "false_negative_rate": counts[..., 1, 0] / bads,
        }


def _spread(values: np.ndarray) -> np.ndarray:
    return values.max(axis=-1) - values.min(axis=-1)


def _gaps(counts: np.ndarray, metric: str) -> np.ndarray:
    rates = _rates(counts)
    if metric == "demographic_parity":
        return _spread(rates["selection_rate"])
    if metric == "equalized_odds":
        return np.maximum(
            _spread(rates["false_positive_rate"]), _spread(rates["false_negative_rate"])
        )
    return _spread(rates[metric])


def _counts(cells: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(cells, minlength=4 * n_groups).reshape(n_groups, 2, 2)


def _check_metric(metric: str) -> None:
    if metric not in GAP_METRICS:
        raise ValueError(f"unknown gap {metric!r}; choose one of {list(GAP_METRICS)}")


def group_rates(y_true: object, refuse: object, group: object) -> pd.DataFrame:
    """Per group: rows, refusal (selection) rate, false-positive and -negative rate."""
    y = _as_binary(y_true, "y_true")
    decision = _as_binary(refuse, "refuse", len(y))
    codes, names = _as_groups(group, len(y))
    rates = _rates(_counts(_cells(y, decision, codes), len(names)))
    frame = pd.DataFrame(rates, index=pd.Index(names, name="group"))
    return frame.astype({"count": int})


def gap(
    y_true: object, refuse: object, group: object, metric: str = "equalized_odds"
) -> float:
    """The largest difference between two groups in ``metric`` (see the module)."""
    _check_metric(metric)
    y = _as_binary(y_true, "y_true")
    decision = _as_binary(refuse, "refuse", len(y))
    codes, names = _as_groups(group, len(y))
    return float(_gaps(_counts(_cells(y, decision, codes), len(names)), metric))


def _bootstrap_counts(
    cell_sets: Sequence[np.ndarray], n_groups: int, n_resamples: int, seed: int
) -> list[np.ndarray]:
    """Counts per resample for each cell array, the SAME rows for all of them."""
    rng = np.random.default_rng(seed)
    n = len(cell_sets[0])
    out = [np.empty((n_resamples, n_groups, 2, 2)) for _ in cell_sets]
    for i in range(n_resamples):
        rows = rng.integers(0, n, n)
        for cells, counts in zip(cell_sets, out, strict=True):
            counts[i] = _counts(cells[rows], n_groups)
    return out


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _validate(confidence: float, n_resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples must be at least 100, got {n_resamples}")


def _check_group_classes(y: np.ndarray, codes: np.ndarray, names: list[str]) -> None:
    for k, name in enumerate(names):
        n_bad = int(y[codes == k].sum())
        n_good = int((codes == k).sum()) - n_bad
        if min(n_bad, n_good) < MIN_ROWS_PER_CLASS:
            raise ValueError(
                f"group {name!r} has {n_bad} default and {n_good} repaid rows: at "
                f"least {MIN_ROWS_PER_CLASS} of each are needed to measure its rates"
            )


def gap_interval(
    y_true: object,
    refuse: object,
    group: object,
    metric: str = "equalized_odds",
    *,
    confidence: float = 0.95,
    n_resamples: int = 1_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(gap, low, high)``: the gap and its bootstrap interval over applicants."""
    _check_metric(metric)
    _validate(confidence, n_resamples)
    y = _as_binary(y_true, "y_true")
    decision = _as_binary(refuse, "refuse", len(y))
    codes, names = _as_groups(group, len(y))
    _check_group_classes(y, codes, names)
    cells = _cells(y, decision, codes)
    (counts,) = _bootstrap_counts([cells], len(names), n_resamples, seed)
    low, high = _percentiles(_gaps(counts, metric), confidence)
    return float(_gaps(_counts(cells, len(names)), metric)), low, high


def gap_change_interval(
    y_true: object,
    refuse_challenger: object,
    refuse_champion: object,
    group: object,
    metric: str = "equalized_odds",
    *,
    confidence: float = 0.95,
    n_resamples: int = 1_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``gap(challenger) - gap(champion)`` on the same rows, with a paired interval.

    Positive means the challenger's gap is wider. Both models' decisions are
    resampled together (the same applicants), so what the two share cancels.
    """
    _check_metric(metric)
    _validate(confidence, n_resamples)
    y = _as_binary(y_true, "y_true")
    new = _as_binary(refuse_challenger, "refuse_challenger", len(y))
    old = _as_binary(refuse_champion, "refuse_champion", len(y))
    codes, names = _as_groups(group, len(y))
    _check_group_classes(y, codes, names)
    cells_new, cells_old = _cells(y, new, codes), _cells(y, old, codes)
    counts_new, counts_old = _bootstrap_counts(
        [cells_new, cells_old], len(names), n_resamples, seed
    )
    changes = _gaps(counts_new, metric) - _gaps(counts_old, metric)
    low, high = _percentiles(changes, confidence)
    change = _gaps(_counts(cells_new, len(names)), metric) - _gaps(
        _counts(cells_old, len(names)), metric
    )
    return float(change), low, high


def fairness_check(
    y_true: object,
    refuse_challenger: object,
    refuse_champion: object,
    group: object,
    *,
    attribute: str = "group",
    metric: str = "equalized_odds",
    max_widening: float = MAX_WIDENING,
    confidence: float = 0.95,
    n_resamples: int = 1_000,
    seed: int = 0,
) -> Check:
    """A gate check: refused only if the challenger's gap is *shown* to be wider.

    Fails when the lower end of the interval of ``gap(challenger) -
    gap(champion)`` is above ``max_widening``; a change the holdout cannot
    tell from noise passes. ``attribute`` names the groups in the check's name
    (``fairness equalized_odds by gender``).
    """
    if not math.isfinite(max_widening) or max_widening < 0:
        raise ValueError(
            f"max_widening must be a finite number >= 0, got {max_widening}"
        )
    change, low, high = gap_change_interval(
        y_true,
        refuse_challenger,
        refuse_champion,
        group,
        metric,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )
    y = _as_binary(y_true, "y_true")
    before = gap(y, refuse_champion, group, metric)
    after = gap(y, refuse_challenger, group, metric)
    level = f"{confidence * 100:.4g}%"
    return Check(
        name=f"fairness {metric} by {attribute}",
        passed=bool(low <= max_widening),
        value=low,
        threshold=float(max_widening),
        estimate=change,
        low=low,
        high=high,
        rule=f"lower <= {max_widening:.4g}",
        detail=(
            f"{metric} gap {before:.4f} -> {after:.4f}, change {change:+.4f} "
            f"({level} CI {low:+.4f} to {high:+.4f}); refused only if the lower "
            f"end is > {max_widening:+.4f}"
        ),
    )


def with_fairness(result: GateResult, *checks: Check) -> GateResult:
    """``result`` with fairness ``checks`` appended: passed only if all of them pass."""
    if not checks:
        raise ValueError("give at least one fairness check to add")
    combined = [*result.checks, *checks]
    return GateResult(
        passed=all(c.passed for c in combined),
        checks=combined,
        champion_version=result.champion_version,
        holdout_hash=result.holdout_hash,
    )
