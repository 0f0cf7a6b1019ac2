"""The fairness check of the promotion gate (chapter 21): gaps, intervals, verdicts."""

import numpy as np
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
)

from mlops_course import fairness_gate, gates


def holdout(n=4_000, seed=0):
    """Labels, groups and a champion's decisions with equal error rates by group."""
    rng = np.random.default_rng(seed)
    group = rng.choice(np.array(["F", "M"]), n)
    y = (rng.random(n) < 0.2).astype(int)
    # refuse 60% of defaulters and 20% of repaid applicants, in both groups
    refuse = np.where(y == 1, rng.random(n) < 0.6, rng.random(n) < 0.2).astype(int)
    return y, group, refuse


def refuse_more_good(y, group, refuse, who, share, seed=1):
    """Also refuse ``share`` of the repaid applicants of group ``who``."""
    rng = np.random.default_rng(seed)
    extra = (group == who) & (y == 0) & (rng.random(len(y)) < share)
    return np.where(extra, 1, refuse)


def test_gaps_agree_with_fairlearn():
    y, group, refuse = holdout()
    widened = refuse_more_good(y, group, refuse, "F", 0.2)
    for decisions in (refuse, widened):
        assert fairness_gate.gap(
            y, decisions, group, "demographic_parity"
        ) == pytest.approx(
            demographic_parity_difference(y, decisions, sensitive_features=group)
        )
        assert fairness_gate.gap(y, decisions, group) == pytest.approx(
            equalized_odds_difference(y, decisions, sensitive_features=group)
        )


def test_group_rates_count_each_group():
    y = np.array([0, 0, 1, 1, 0, 1])
    refuse = np.array([1, 0, 1, 0, 0, 1])
    group = np.array(["a", "a", "a", "a", "b", "b"])
    rates = fairness_gate.group_rates(y, refuse, group)
    assert rates.loc["a"].tolist() == [4, 0.5, 0.5, 0.5]
    assert rates.loc["b"].tolist() == [2, 0.5, 0.0, 0.0]


def test_gap_interval_covers_the_gap_and_excludes_zero_when_real():
    y, group, refuse = holdout()
    widened = refuse_more_good(y, group, refuse, "F", 0.2)
    gap, low, high = fairness_gate.gap_interval(
        y, widened, group, "false_positive_rate", n_resamples=300
    )
    assert low < gap < high and low > 0.1


def test_check_refuses_a_challenger_that_widens_the_gap():
    y, group, champion = holdout()
    challenger = refuse_more_good(y, group, champion, "F", 0.15)
    check = fairness_gate.fairness_check(
        y,
        challenger,
        champion,
        group,
        attribute="gender",
        metric="false_positive_rate",
        n_resamples=300,
    )
    assert not check.passed
    assert check.low > 0 and check.estimate > 0.1
    assert check.name == "fairness false_positive_rate by gender"


def test_check_passes_an_equal_challenger():
    y, group, champion = holdout()
    # another model as good and as fair: its own random errors, same rates
    rng = np.random.default_rng(5)
    challenger = np.where(
        y == 1, rng.random(len(y)) < 0.6, rng.random(len(y)) < 0.2
    ).astype(int)
    check = fairness_gate.fairness_check(
        y, challenger, champion, group, metric="false_positive_rate", n_resamples=300
    )
    assert check.passed and check.low <= 0 <= check.high


def test_check_passes_a_noisy_widening_it_cannot_show():
    y, group, champion = holdout(n=600)
    challenger = refuse_more_good(y, group, champion, "F", 0.02)
    check = fairness_gate.fairness_check(
        y, challenger, champion, group, metric="false_positive_rate", n_resamples=300
    )
    assert check.estimate > 0  # a point estimate rule would refuse it
    assert check.passed  # the interval reaches zero: not evidence


def test_with_fairness_refuses_the_whole_gate_and_tags_say_why():
    y, group, champion = holdout()
    rng = np.random.default_rng(3)
    proba = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.2, len(y)), 0, 1)
    result = gates.evaluate_gate(y, proba, proba, n_resamples=200)
    assert result.passed
    check = fairness_gate.fairness_check(
        y,
        refuse_more_good(y, group, champion, "M", 0.2),
        champion,
        group,
        attribute="gender",
        n_resamples=200,
    )
    combined = fairness_gate.with_fairness(result, check)
    assert not combined.passed
    assert combined.failed == ["fairness equalized_odds by gender"]
    tags = combined.to_tags()
    assert tags["gate.fairness_equalized_odds_by_gender"] == "fail"
    with pytest.raises(gates.PromotionRefused, match="fairness"):
        gates.check_promotable("2", tags, champion_version="1", holdout_hash="h")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "accuracy"}, "unknown gap"),
        ({"max_widening": -0.1}, "max_widening"),
        ({"n_resamples": 10}, "n_resamples"),
        ({"confidence": 1.5}, "confidence"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    y, group, refuse = holdout(n=500)
    with pytest.raises(ValueError, match=message):
        fairness_gate.fairness_check(y, refuse, refuse, group, **kwargs)


def test_bad_input_is_named():
    y, group, refuse = holdout(n=500)
    with pytest.raises(ValueError, match="only 0 and 1"):
        fairness_gate.gap(y, refuse * 2, group)
    with pytest.raises(ValueError, match="rows but y_true"):
        fairness_gate.gap(y, refuse[:-1], group)
    with pytest.raises(ValueError, match="at least two groups"):
        fairness_gate.gap(y, refuse, np.full(len(y), "F"))
    with pytest.raises(ValueError, match="at least 20 of each"):
        fairness_gate.gap_interval(y[:60], refuse[:60], group[:60])
    with pytest.raises(ValueError, match="at least one fairness check"):
        fairness_gate.with_fairness(gates.GateResult(passed=True))
