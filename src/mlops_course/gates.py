"""Evaluation gates: may a challenger replace the champion? (chapters 8, 10, 11).

Chapter 8 (model registry workflows) runs the gate before moving the
``champion`` alias and records its verdict as model-version tags; chapter 10
runs it in the orchestrated retrain and chapter 11 in a CI pipeline.

**The course's promotion policy** (the defaults below): a challenger replaces
the champion when the data show it is *not worse* overall by more than a
margin (non-inferiority: the lower end of the interval of its gain is above
``-NON_INFERIORITY_MARGIN``), and no guard slice shows *evidence* of harm. A
scheduled retrain replaces a champion that is itself going stale, so a new model
need not prove itself better, only not worse; a group is protected by refusing
when its interval lies wholly below the allowed drop, not when a noisy point
estimate happens to dip. Pass ``min_improvement=0`` (or more) to demand a proven
gain instead.

:func:`evaluate_gate` compares two models' probabilities on the *same* holdout
rows and passes the challenger only if every check passes:

- ``improvement``: the lower end of a paired bootstrap confidence interval of
  ``metric(challenger) - metric(champion)`` (from
  :func:`mlops_course.modeling.bootstrap_difference`) is above
  ``min_improvement`` (default ``-NON_INFERIORITY_MARGIN``).
- ``slice <name>`` (one per guard slice): refused only on evidence of harm, when
  the *upper* end of the slice's interval is below ``-max_slice_drop``. With
  several slices each one is a separate test, so by default (Bonferroni) each
  slice interval is computed at level ``1 - (1 - confidence) / n_slices``: the
  chance that *any* slice refuses a challenger that harms no group stays at
  most what one test at ``confidence`` allows.
- ``latency`` (optional): challenger time per row over champion time per row is
  at most ``max_latency_ratio``. Timings depend on the machine, so a verdict
  that must be reproducible (a registry tag, a stored notebook output) should
  not include it.

A verdict is only meaningful for what it was judged against: pass
``champion_version`` and ``holdout_hash`` and :meth:`GateResult.to_tags` records
them (``gate.champion_version``, ``gate.holdout_hash``);
:func:`check_promotable` refuses a version whose verdict failed, was made
against another champion or holdout, or that was rolled back.

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

#: How much worse than the champion (in the gate's metric) a challenger may be.
NON_INFERIORITY_MARGIN = 0.01

#: Model-version tag that marks a version taken out of production by a rollback.
ROLLED_BACK_TAG = "rolled_back"

#: Ways to adjust the slice intervals for testing several slices at once.
SLICE_ADJUSTMENTS = ("bonferroni", "none")


def rank_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (equals sklearn's, ties averaged; faster).

    The gate's ``roc_auc`` metric, fast enough for thousands of bootstrap resamples.
    """
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
    "roc_auc": (rank_auc, True),
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
    rule: str = ""  # what had to hold, e.g. "lower > -0.01" (recorded in the tags)

    def line(self) -> str:
        """``PASS name: detail`` (or ``FAIL ...``)."""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True)
class GateResult:
    """The verdict of :func:`evaluate_gate`: passed only if every check passed.

    ``champion_version`` and ``holdout_hash`` say what the challenger was judged
    against (``None`` when the caller did not say).
    """

    passed: bool
    checks: list[Check] = field(default_factory=list)
    champion_version: str | None = None
    holdout_hash: str | None = None

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

        ``gate.passed`` and ``gate.failed_checks`` give the verdict, and
        ``gate.champion_version`` / ``gate.holdout_hash`` what it was judged
        against (when known). Each check adds ``gate.<name>`` (pass/fail),
        ``.rule`` (what had to hold), ``.threshold``, ``.estimate`` and, when it
        has an interval, ``.lower`` and ``.upper``. In names, characters MLflow
        refuses in tag keys become ``_`` (``slice region=north`` gives
        ``gate.slice_region_north``).
        """
        tags = {
            f"{prefix}.passed": str(self.passed).lower(),
            f"{prefix}.failed_checks": ",".join(self.failed) or "none",
        }
        if self.champion_version is not None:
            tags[f"{prefix}.champion_version"] = str(self.champion_version)
        if self.holdout_hash is not None:
            tags[f"{prefix}.holdout_hash"] = str(self.holdout_hash)
        for check in self.checks:
            key = f"{prefix}.{_TAG_UNSAFE.sub('_', check.name)}"
            tags[key] = "pass" if check.passed else "fail"
            if check.rule:
                tags[f"{key}.rule"] = check.rule
            tags[f"{key}.threshold"] = f"{check.threshold:.4g}"
            if check.estimate is None:  # a check without an estimate: its value
                tags[f"{key}.value"] = f"{check.value:.4g}"
            else:
                tags[f"{key}.estimate"] = f"{check.estimate:.4g}"
            if check.low is not None:
                tags[f"{key}.lower"] = f"{check.low:.4g}"
            if check.high is not None:
                tags[f"{key}.upper"] = f"{check.high:.4g}"
        return tags


class PromotionRefused(Exception):
    """A version may not become champion; the message says why."""


def check_promotable(
    version: str,
    tags: Mapping[str, str],
    *,
    champion_version: str,
    holdout_hash: str,
    prefix: str = "gate",
) -> None:
    """Raise :class:`PromotionRefused` unless ``version``'s gate verdict allows it.

    ``tags`` are the version's tags (``MlflowClient().get_model_version(...).tags``);
    ``champion_version`` is the version the ``champion`` alias names now and
    ``holdout_hash`` the fingerprint of the holdout the team gates on today. The
    version is refused if it was rolled back (``rolled_back`` tag), if its gate
    did not pass, or if the verdict was made against another champion or
    another holdout (the evidence is then about a comparison nobody is making).
    """
    version = str(version)
    if ROLLED_BACK_TAG in tags:
        raise PromotionRefused(
            f"version {version} was rolled back ({tags[ROLLED_BACK_TAG]}): "
            "register the fix as a new version and gate that"
        )
    if tags.get(f"{prefix}.passed") != "true":
        raise PromotionRefused(
            f"version {version} has not passed the evaluation gate "
            f"({prefix}.passed={tags.get(f'{prefix}.passed', 'missing')}, failed: "
            f"{tags.get(f'{prefix}.failed_checks', 'not evaluated')})"
        )
    if str(version) == str(champion_version):
        raise PromotionRefused(f"version {version} is already the champion")
    judged = tags.get(f"{prefix}.champion_version")
    if judged != str(champion_version):
        raise PromotionRefused(
            f"version {version}'s gate verdict was made against champion "
            f"{judged or '(not recorded)'}, but the champion is now version "
            f"{champion_version}: run the gate again"
        )
    if tags.get(f"{prefix}.holdout_hash") != holdout_hash:
        raise PromotionRefused(
            f"version {version}'s gate verdict was made on another holdout "
            f"({prefix}.holdout_hash differs from the current one): run the gate "
            "again"
        )


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
    min_improvement: float = -NON_INFERIORITY_MARGIN,
    confidence: float = 0.95,
    guard_slices: Mapping[str, object] | None = None,
    max_slice_drop: float = NON_INFERIORITY_MARGIN,
    slice_adjustment: str = "bonferroni",
    latency_ms: tuple[float, float] | None = None,
    max_latency_ratio: float = 1.5,
    n_resamples: int = 1_000,
    seed: int = 0,
    champion_version: str | None = None,
    holdout_hash: str | None = None,
) -> GateResult:
    """May the challenger replace the champion? Both scored on the same rows.

    ``p_challenger``/``p_champion`` are P(default) per row of ``y_true``;
    ``guard_slices`` maps a name to a boolean mask over those rows;
    ``latency_ms`` is ``(challenger, champion)`` time per row. For ``brier``
    and ``log_loss`` (lower is better) differences are reported as improvements
    (champion minus challenger), so positive always means better.

    The defaults are the course's policy (see the module docstring):
    non-inferiority overall (``min_improvement=-0.01``), refusal of a slice only
    on evidence of harm (its interval's upper end below ``-max_slice_drop``), the
    slice intervals Bonferroni-adjusted for their number (``slice_adjustment=
    "none"`` computes each at ``confidence``). ``champion_version`` and
    ``holdout_hash`` are recorded in the result and its tags.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if not (math.isfinite(min_improvement) and math.isfinite(max_slice_drop)):
        raise ValueError("min_improvement and max_slice_drop must be finite numbers")
    if max_slice_drop < 0:
        raise ValueError(f"max_slice_drop must be >= 0, got {max_slice_drop}")
    if slice_adjustment not in SLICE_ADJUSTMENTS:
        raise ValueError(
            f"slice_adjustment must be one of {SLICE_ADJUSTMENTS}, "
            f"got {slice_adjustment!r}"
        )
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
    options = {"n_resamples": n_resamples, "seed": seed}

    diff, low, high = _interval(
        improvement_of, y, champion, challenger, confidence=confidence, **options
    )
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
            rule=f"lower > {min_improvement:.4g}",
            detail=(
                f"{metric} {before:.4f} -> {after:.4f}, change {diff:+.4f} "
                f"({_level(confidence)} CI {low:+.4f} to {high:+.4f}); lower end must "
                f"be > {min_improvement:+.4f}"
            ),
        )
    ]
    slice_confidence = confidence
    if masks and slice_adjustment == "bonferroni":
        slice_confidence = 1 - (1 - confidence) / len(masks)
    for name, mask in masks.items():
        diff, low, high = _interval(
            improvement_of,
            y[mask],
            champion[mask],
            challenger[mask],
            confidence=slice_confidence,
            **options,
        )
        checks.append(
            Check(
                name=f"slice {name}",
                passed=bool(high >= -max_slice_drop),
                value=high,
                threshold=-float(max_slice_drop),
                estimate=diff,
                low=low,
                high=high,
                rule=f"upper >= {-max_slice_drop:.4g}",
                detail=(
                    f"{int(mask.sum())} rows, {metric} change {diff:+.4f} "
                    f"({_level(slice_confidence)} CI {low:+.4f} to {high:+.4f}); "
                    f"refused only if the upper end is < {-max_slice_drop:+.4f}"
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
                rule=f"ratio <= {max_latency_ratio:.4g}",
                detail=(
                    f"{latency[0]:.3g} ms vs {latency[1]:.3g} ms per row, ratio "
                    f"{ratio:.2f}; must be <= {max_latency_ratio:.2f}"
                ),
            )
        )
    return GateResult(
        passed=all(c.passed for c in checks),
        checks=checks,
        champion_version=None if champion_version is None else str(champion_version),
        holdout_hash=holdout_hash,
    )


def _level(confidence: float) -> str:
    """``95%``, ``99%``, ``99.5%``: the confidence level as a short percentage."""
    return f"{confidence * 100:.4g}%"
