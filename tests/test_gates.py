"""The evaluation gate refuses what it must and passes a clearly better model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlops_course import gates
from mlops_course.gates import Check, GateResult, PromotionRefused, check_promotable
from mlops_course.gates import evaluate_gate as _evaluate_gate
from mlops_course.modeling import bootstrap_difference

N_ROWS = 4_000


def evaluate_gate(*args, **kwargs):
    """The gate with fewer resamples than its default, to keep the tests quick."""
    return _evaluate_gate(*args, **{"n_resamples": 400, **kwargs})


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def holdout():
    """Labels, a latent risk, and a 25% slice ("group a"), all seeded."""
    rng = np.random.default_rng(0)
    risk = rng.normal(size=N_ROWS)
    y = (rng.random(N_ROWS) < _sigmoid(2 * risk - 1.5)).astype(int)
    in_a = np.arange(N_ROWS) % 4 == 0
    return y, risk, in_a


def _model(risk: np.ndarray, noise: float | np.ndarray, seed: int) -> np.ndarray:
    """P(default) of a model that sees the risk through ``noise``."""
    rng = np.random.default_rng(seed)
    return _sigmoid(2 * (risk + rng.normal(size=len(risk)) * noise) - 1.5)


def _retrain(proba: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """A retrain of the model behind ``proba``: its log-odds moved by a little noise.

    As with a real retrain on mostly the same data, the two models' errors are
    strongly correlated, so their paired difference is measured precisely.
    """
    rng = np.random.default_rng(seed)
    log_odds = np.log(proba / (1 - proba))
    return _sigmoid(log_odds + rng.normal(size=len(proba)) * noise)


@pytest.fixture(scope="module")
def champion(holdout):
    return _model(holdout[1], 1.0, seed=1)


def test_a_clearly_better_challenger_passes(holdout, champion):
    y, risk, in_a = holdout
    better = _model(risk, 0.4, seed=2)
    result = evaluate_gate(
        y,
        better,
        champion,
        guard_slices={"a": in_a, "not a": ~in_a},
        latency_ms=(0.011, 0.010),
    )
    assert result.passed, result.summary()
    assert [c.name for c in result.checks] == [
        "improvement",
        "slice a",
        "slice not a",
        "latency",
    ]
    overall = result.checks[0]
    # the recorded point estimate is the real AUC difference, inside its interval
    expected = roc_auc_score(y, better) - roc_auc_score(y, champion)
    assert overall.estimate == pytest.approx(expected, abs=1e-12)
    assert overall.low < overall.estimate < overall.high
    assert overall.value == overall.low > 0


def test_a_worse_challenger_is_refused(holdout, champion):
    y, risk, _ = holdout
    worse = _model(risk, 2.0, seed=3)
    result = evaluate_gate(y, worse, champion)
    assert not result.passed
    assert result.failed == ["improvement"]
    assert result.checks[0].high < 0
    assert result.summary().startswith("FAIL improvement: roc_auc")


def test_an_identical_challenger_is_not_inferior_but_not_better(holdout, champion):
    y, _, _ = holdout
    same = champion.copy()
    result = evaluate_gate(y, same, champion)  # the default: non-inferiority
    assert result.passed, result.summary()
    check = result.checks[0]
    assert check.estimate == check.low == check.high == 0
    assert check.threshold == -gates.NON_INFERIORITY_MARGIN
    # demanding a proven gain (superiority) refuses it
    assert evaluate_gate(y, same, champion, min_improvement=0.0).failed == [
        "improvement"
    ]


def test_a_better_point_estimate_inside_the_noise_is_no_proven_gain(holdout, champion):
    y, _, _ = holdout
    slightly = _retrain(champion, 0.3, seed=48)  # as good, another draw of noise
    superiority = evaluate_gate(y, slightly, champion, min_improvement=0.0)
    check = superiority.checks[0]
    assert check.estimate > 0  # better on this holdout...
    assert check.low < 0 < check.high  # ...but the data cannot tell them apart
    assert not superiority.passed
    # non-inferiority: not shown worse by more than the margin, so it passes
    assert check.low > -gates.NON_INFERIORITY_MARGIN
    assert evaluate_gate(y, slightly, champion).passed


def test_a_slightly_worse_challenger_is_refused_without_proof_of_non_inferiority(
    holdout, champion
):
    y, risk, _ = holdout
    slightly_worse = _model(risk, 1.15, seed=7)
    result = evaluate_gate(y, slightly_worse, champion)
    check = result.checks[0]
    assert check.estimate < 0
    assert check.low < -gates.NON_INFERIORITY_MARGIN  # could be worse than allowed
    assert result.failed == ["improvement"]


def test_min_improvement_raises_the_bar(holdout, champion):
    y, risk, _ = holdout
    better = _model(risk, 0.4, seed=2)
    low = evaluate_gate(y, better, champion).checks[0].low
    assert evaluate_gate(y, better, champion, min_improvement=low - 0.001).passed
    assert not evaluate_gate(y, better, champion, min_improvement=low + 0.001).passed


def test_better_overall_but_worse_on_a_slice_is_refused(holdout, champion):
    y, risk, in_a = holdout
    # much better outside group a, much worse inside it
    noise = np.where(in_a, 1.6, 0.3)
    mixed = _model(risk, noise, seed=5)
    result = evaluate_gate(y, mixed, champion, guard_slices={"a": in_a})
    assert result.checks[0].passed  # the overall improvement is real
    assert result.failed == ["slice a"]
    assert not result.passed
    slice_a = result.checks[1]
    # evidence of harm: even the upper end of the interval is below the allowance
    assert slice_a.value == slice_a.high < slice_a.threshold == -0.01
    assert slice_a.estimate < slice_a.high
    # a generous enough allowance lets it through: the threshold is what decides
    allowance = -slice_a.high + 0.001
    assert evaluate_gate(
        y, mixed, champion, guard_slices={"a": in_a}, max_slice_drop=allowance
    ).passed


def test_a_slice_that_dips_by_noise_is_not_refused(holdout, champion):
    y, _, _ = holdout
    small = np.arange(N_ROWS) < 300  # a small slice: a wide interval
    as_good = _retrain(champion, 0.5, seed=55)  # a retrain, about as good
    result = evaluate_gate(y, as_good, champion, guard_slices={"small": small})
    check = result.checks[1]
    # the point estimate dips below the allowance (the old rule refused this)...
    assert check.estimate < -0.01
    # ...but the interval reaches above it: no evidence of harm, so it passes
    assert check.low < -0.01 < check.high
    assert result.checks[0].passed  # and overall it is not inferior
    assert check.passed and result.passed, result.summary()


def test_slice_intervals_are_bonferroni_adjusted(holdout, champion):
    y, risk, in_a = holdout
    better = _model(risk, 0.4, seed=2)
    slices = {"a": in_a, "b": ~in_a, "c": np.arange(N_ROWS) % 2 == 0}
    adjusted = evaluate_gate(y, better, champion, guard_slices=slices)
    plain = evaluate_gate(
        y, better, champion, guard_slices=slices, slice_adjustment="none"
    )
    level = 1 - 0.05 / 3
    for name, mask in slices.items():
        expected = bootstrap_difference(
            y[mask],
            champion[mask],
            better[mask],
            metric=gates.rank_auc,
            n_resamples=400,
            confidence=level,
            seed=0,
        )
        check = next(c for c in adjusted.checks if c.name == f"slice {name}")
        assert (check.estimate, check.low, check.high) == pytest.approx(expected)
        assert "98.33% CI" in check.detail
        unadjusted = next(c for c in plain.checks if c.name == f"slice {name}")
        assert "95% CI" in unadjusted.detail
        assert check.low <= unadjusted.low <= unadjusted.high <= check.high
    # the overall interval is not adjusted
    assert adjusted.checks[0] == plain.checks[0]


def test_a_slower_challenger_is_refused(holdout, champion):
    y, risk, _ = holdout
    better = _model(risk, 0.4, seed=2)
    result = evaluate_gate(y, better, champion, latency_ms=(0.030, 0.010))
    assert result.failed == ["latency"]
    assert result.checks[-1].value == pytest.approx(3.0)
    assert evaluate_gate(
        y, better, champion, latency_ms=(0.030, 0.010), max_latency_ratio=3.5
    ).passed


def test_lower_is_better_metrics_report_improvements(holdout, champion):
    y, risk, _ = holdout
    better = _model(risk, 0.4, seed=2)
    for metric in ("brier", "log_loss"):  # scikit-learn's scorers: fewer resamples
        result = evaluate_gate(y, better, champion, metric=metric, n_resamples=100)
        assert result.passed and result.checks[0].estimate > 0
        worse = evaluate_gate(y, champion, better, metric=metric, n_resamples=100)
        assert not worse.passed and worse.checks[0].estimate < 0


def test_the_verdict_is_deterministic(holdout, champion):
    y, risk, in_a = holdout
    better = _model(risk, 0.9, seed=6)
    first = evaluate_gate(y, better, champion, guard_slices={"a": in_a}, seed=3)
    again = evaluate_gate(y, better, champion, guard_slices={"a": in_a}, seed=3)
    assert first == again


def test_tags_are_strings_with_safe_keys(holdout, champion):
    y, risk, in_a = holdout
    result = evaluate_gate(
        y,
        _model(risk, 0.4, seed=2),
        champion,
        guard_slices={"region=north (new)": in_a},
        latency_ms=(1.0, 1.0),
    )
    tags = result.to_tags()
    assert tags["gate.passed"] == "true"
    assert tags["gate.failed_checks"] == "none"
    assert tags["gate.slice_region_north__new_"] == "pass"
    assert tags["gate.latency.estimate"] == "1"
    assert tags["gate.latency.rule"] == "ratio <= 1.5"
    improvement = result.checks[0]
    # both the estimate and the bound the verdict rests on, each under its name
    assert tags["gate.improvement.estimate"] == f"{improvement.estimate:.4g}"
    assert tags["gate.improvement.lower"] == f"{improvement.low:.4g}"
    assert tags["gate.improvement.upper"] == f"{improvement.high:.4g}"
    assert tags["gate.improvement.rule"] == "lower > -0.01"
    assert tags["gate.slice_region_north__new_.rule"] == "upper >= -0.01"
    assert not any(key.endswith(".value") for key in tags)
    assert "gate.champion_version" not in tags  # not given: not recorded
    assert all(isinstance(v, str) for v in tags.values())
    # MLflow accepts word characters, ".", "-", "/" (and spaces) in a tag key.
    assert all(re.fullmatch(r"[\w.\-/]+", k) for k in tags), sorted(tags)
    assert len(result.summary().splitlines()) == len(result.checks)
    frame = result.to_frame()
    assert list(frame["name"]) == [c.name for c in result.checks]


def test_summary_and_tags_of_a_hand_made_result():
    result = GateResult(
        passed=False,
        checks=[
            Check("improvement", True, 0.012, 0.0, "ok"),
            Check("latency", False, 2.0, 1.5, "too slow"),
        ],
    )
    assert result.summary() == "PASS improvement: ok\nFAIL latency: too slow"
    assert result.to_tags()["gate.failed_checks"] == "latency"
    assert result.to_tags()["gate.improvement.value"] == "0.012"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda y, a, b: (y[:-1], a, b), "p_challenger has 4000 rows but y_true"),
        (lambda y, a, b: (y, a, b[:10]), "p_champion has 10 rows"),
        (lambda y, a, b: (y, a * 2, b), r"outside \[0, 1\]"),
        (lambda y, a, b: (y, np.where(a > 0.5, np.nan, a), b), "NaN"),
        (lambda y, a, b: (y, a - 1, b), "p_challenger has .* outside"),
        (lambda y, a, b: (np.zeros_like(y), a, b), "only label 0"),
        (lambda y, a, b: (np.ones_like(y), a, b), "only label 1"),
        (lambda y, a, b: (y * 2, a, b), "only 0 and 1"),
        (lambda y, a, b: (y[:0], a[:0], b[:0]), "non-empty"),
        (lambda y, a, b: (y, a.reshape(-1, 2), b), "1-D"),
    ],
)
def test_bad_input_is_refused_clearly(holdout, champion, change, message):
    y, risk, _ = holdout
    args = change(y, _model(risk, 0.4, seed=2), champion)
    with pytest.raises(ValueError, match=message):
        evaluate_gate(*args)


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ({"none": np.zeros(N_ROWS, bool)}, "'none' is empty"),
        ({"ints": np.arange(N_ROWS) % 2}, "must be a boolean mask"),
        ({"short": np.ones(10, bool)}, "has shape"),
        ({"tiny": np.arange(N_ROWS) < 30}, "at least 20 of each"),
    ],
)
def test_bad_guard_slices_are_refused(holdout, champion, slices, message):
    y, risk, _ = holdout
    with pytest.raises(ValueError, match=message):
        evaluate_gate(y, _model(risk, 0.4, seed=2), champion, guard_slices=slices)


def test_a_single_class_slice_is_refused(holdout, champion):
    y, risk, _ = holdout
    with pytest.raises(ValueError, match="'healthy' holds only label 0"):
        evaluate_gate(
            y, _model(risk, 0.4, seed=2), champion, guard_slices={"healthy": y == 0}
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metric": "accuracy"}, "unknown metric"),
        ({"confidence": 1.0}, "confidence"),
        ({"max_slice_drop": -0.1}, "max_slice_drop"),
        ({"min_improvement": float("nan")}, "finite"),
        ({"slice_adjustment": "holm"}, "slice_adjustment"),
        ({"latency_ms": (0.0, 1.0)}, "latency_ms"),
        ({"latency_ms": (1.0,)}, "latency_ms"),
        ({"n_resamples": 10}, "n_resamples"),
    ],
)
def test_bad_options_are_refused(holdout, champion, options, message):
    y, risk, _ = holdout
    with pytest.raises(ValueError, match=message):
        evaluate_gate(y, _model(risk, 0.4, seed=2), champion, **options)


def test_fast_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(9)
    y = (rng.random(500) < 0.3).astype(int)
    p = np.round(rng.random(500), 1)  # many ties
    assert gates.rank_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


HOLDOUT_HASH = "a" * 64


@pytest.fixture(scope="module")
def passed_tags(holdout, champion):
    """The tags of a passed verdict judged against champion 1 on HOLDOUT_HASH."""
    y, risk, _ = holdout
    result = evaluate_gate(
        y,
        _model(risk, 0.4, seed=2),
        champion,
        champion_version=1,
        holdout_hash=HOLDOUT_HASH,
    )
    assert result.passed and result.champion_version == "1"
    tags = result.to_tags()
    assert tags["gate.champion_version"] == "1"
    assert tags["gate.holdout_hash"] == HOLDOUT_HASH
    return tags


def test_a_passed_verdict_for_the_current_champion_and_holdout_is_promotable(
    passed_tags,
):
    check_promotable("3", passed_tags, champion_version="1", holdout_hash=HOLDOUT_HASH)


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (
            {"gate.passed": "false", "gate.failed_checks": "improvement"},
            {},
            r"has not passed the evaluation gate \(gate.passed=false, failed: "
            r"improvement\)",
        ),
        (
            {"gate.passed": None, "gate.failed_checks": None},
            {},
            "gate.passed=missing, failed: not evaluated",
        ),
        (
            {"rolled_back": "INC-0142: feed broken"},
            {},
            r"version 3 was rolled back \(INC-0142: feed broken\)",
        ),
        (
            {},
            {"champion_version": "2"},
            "made against champion 1, but the champion is now version 2",
        ),
        (
            {"gate.champion_version": None},
            {},
            r"made against champion \(not recorded\)",
        ),
        ({}, {"holdout_hash": "b" * 64}, "made on another holdout"),
        ({"gate.holdout_hash": None}, {}, "made on another holdout"),
        ({}, {"champion_version": "3"}, "already the champion"),
    ],
)
def test_promotion_is_refused_with_the_reason(passed_tags, change, options, message):
    tags = {**passed_tags, **change}
    tags = {key: value for key, value in tags.items() if value is not None}
    where = {"champion_version": "1", "holdout_hash": HOLDOUT_HASH, **options}
    with pytest.raises(PromotionRefused, match=message):
        check_promotable("3", tags, **where)


def test_a_rollback_outranks_a_passed_gate(passed_tags):
    tags = {**passed_tags, gates.ROLLED_BACK_TAG: "INC-0142"}
    assert tags["gate.passed"] == "true"
    with pytest.raises(PromotionRefused, match="rolled back"):
        check_promotable("3", tags, champion_version="1", holdout_hash=HOLDOUT_HASH)
