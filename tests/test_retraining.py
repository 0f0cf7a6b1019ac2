"""Retraining triggers: each fires on its own condition, bad input is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops_course import data, modeling, retraining
from mlops_course.retraining import Decision, RetrainingPolicy

NOW = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = RetrainingPolicy(
    max_age_days=30, drift_share_threshold=0.3, min_metric=0.70, max_metric_drop=0.02
)


def decide(age_days=1.0, drift=0.0, metric=0.75, baseline=0.75, policy=POLICY):
    return policy.should_retrain(
        NOW, NOW - timedelta(days=age_days), drift, metric, baseline
    )


def test_nothing_fires_on_a_young_stable_model():
    decision = decide()
    assert decision == Decision(False, [], [])
    assert str(decision) == "keep the model: no trigger fired"


@pytest.mark.parametrize(
    ("kwargs", "trigger", "fragment"),
    [
        ({"age_days": 30}, "schedule", "30 days old (max 30)"),
        ({"drift": 0.3}, "drift", "30% of features drifted"),
        ({"metric": 0.69, "baseline": 0.70}, "performance", "below the minimum 0.700"),
        ({"metric": 0.72, "baseline": 0.75}, "performance", "fell 0.030"),
    ],
)
def test_each_trigger_fires_alone_at_its_threshold(kwargs, trigger, fragment):
    decision = decide(**kwargs)
    assert decision.retrain
    assert decision.triggers == [trigger]
    assert len(decision.reasons) == 1
    assert decision.reasons[0].startswith(trigger + ":")
    assert fragment in decision.reasons[0]


def test_just_below_each_threshold_nothing_fires():
    assert not decide(age_days=29.9, drift=0.29, metric=0.731, baseline=0.75).retrain


def test_all_triggers_report_together_in_a_fixed_order():
    decision = decide(age_days=45, drift=0.5, metric=0.60, baseline=0.75)
    assert decision.triggers == ["schedule", "drift", "performance"]
    assert "below the minimum" in decision.reasons[2]
    assert "fell 0.150" in decision.reasons[2]
    assert str(decision).startswith("retrain: schedule: model is 45 days old")


def test_unmeasured_observations_and_disabled_triggers_do_not_fire():
    assert not decide(drift=None, metric=None, baseline=None).retrain
    # The drop needs a baseline; the floor does not.
    assert decide(metric=0.6, baseline=None).triggers == ["performance"]
    off = RetrainingPolicy(
        max_age_days=None,
        drift_share_threshold=None,
        min_metric=None,
        max_metric_drop=None,
    )
    assert not decide(age_days=999, drift=1.0, metric=0.1, policy=off).retrain


def test_module_function_uses_the_default_policy():
    decision = retraining.should_retrain(NOW, NOW - timedelta(days=31))
    assert decision.triggers == ["schedule"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: decide(age_days=-1), ValueError, "after now"),
        (lambda: decide(drift=1.5), ValueError, "drift_share"),
        (lambda: decide(metric=float("nan")), ValueError, "current_metric"),
        (lambda: decide(metric="0.7"), TypeError, "current_metric must be a number"),
        (
            lambda: POLICY.should_retrain(datetime(2026, 3, 1), NOW),
            ValueError,
            "timezone-aware",
        ),
        (lambda: POLICY.should_retrain("2026-03-01", NOW), TypeError, "datetime"),
        (lambda: RetrainingPolicy(max_age_days=0), ValueError, "max_age_days"),
        (lambda: RetrainingPolicy(drift_share_threshold=2), ValueError, "drift_share"),
        (lambda: RetrainingPolicy(max_metric_drop=-0.1), ValueError, "max_metric_drop"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_psi_is_zero_on_identical_data_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(0, 1, 5_000))
    assert retraining.population_stability_index(ref, ref) == pytest.approx(0.0)
    small = retraining.population_stability_index(ref, ref + 0.1)
    large = retraining.population_stability_index(ref, ref + 1.0)
    assert 0 < small < 0.1 < 0.2 < large


def test_psi_counts_new_categories_and_missing_values():
    ref = pd.Series(["a", "b"] * 500)
    assert retraining.population_stability_index(ref, ref) == pytest.approx(0.0)
    new = pd.Series(["a", "b", "c", "c"] * 250)
    assert retraining.population_stability_index(ref, new) > 0.2
    numbers = pd.Series(np.arange(1_000, dtype=float))
    holes = numbers.mask(numbers % 2 == 0)
    assert retraining.population_stability_index(numbers, holes) > 0.2
    with pytest.raises(ValueError, match="bins"):
        retraining.population_stability_index(numbers, numbers, bins=1)


def test_drift_share_finds_the_planted_features():
    ref = data.generate_applications(3_000, seed=1)
    assert retraining.drift_share(ref, data.drift_scenario("none", 1_000).frame) == 0
    for name in ("covariate_shift", "new_category", "broken_feed"):
        scenario = data.drift_scenario(name, 1_000)
        table = retraining.feature_drift(ref, scenario.frame)
        found = set(table.loc[table["drifted"], "feature"])
        assert found, name
        assert found <= set(scenario.truth.drifted_features), name


def test_drifting_weeks_ramp_in_the_scenario():
    weeks = retraining.drifting_weeks(
        5, scenario="new_category", onset_week=1, ramp_weeks=2, rows_per_week=400
    )
    shares = [w["scenario_share"].iloc[0] for w in weeks]
    assert shares == [0.0, 0.5, 1.0, 1.0, 1.0]
    new = [(w["loan_purpose"] == data.NEW_PURPOSE).mean() for w in weeks]
    assert new[0] == 0 < new[1] < new[2]
    assert all(len(w) == 400 for w in weeks)
    assert weeks[1][data.TIMESTAMP_COLUMN].is_monotonic_increasing


def test_simulation_retrains_only_when_the_policy_says_so():
    history = data.generate_applications(2_000, seed=1)
    split = data.time_split(history, valid_fraction=0.2, test_fraction=0.01)
    weeks = retraining.drifting_weeks(
        8, scenario="covariate_shift", onset_week=2, ramp_weeks=1, rows_per_week=500
    )
    common = {
        "initial_train": split.train,
        "initial_valid": split.valid,
        "trained_at": data.REFERENCE_DATE + timedelta(days=365),
        "train_weeks": 3,
    }
    never = retraining.simulate(weeks, None, **common)
    assert not never["retrained"].any()
    # Last week's AUC, seen at the start of this week, is what was served then.
    assert never["seen_auc"].iloc[1:].tolist() == never["served_auc"].iloc[:-1].tolist()
    # A cost per application is at most that of the costliest decision.
    assert never["served_cost"].between(0, modeling.COST_MISSED_DEFAULT).all()
    assert never["model_age_weeks"].tolist() == list(range(8))
    drift_only = RetrainingPolicy(
        max_age_days=None, drift_share_threshold=0.05, max_metric_drop=None
    )
    timeline = retraining.simulate(weeks, drift_only, **common)
    # The shift starts in week 2, is seen in week 3, and 3 weeks of data exist.
    first = timeline.loc[timeline["retrained"], "week"].iloc[0]
    assert first == 3
    assert timeline.loc[first, "triggers"] == "drift"
    # The retrained model learnt the shifted weeks: no drift against them after.
    assert timeline.loc[first + 2, "drift_share"] == 0
