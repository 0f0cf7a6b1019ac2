"""Retraining triggers: each fires on its own condition, bad input is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from mlops_course import data, modeling, retraining
from mlops_course.retraining import Decision, RetrainingPolicy
from mlops_course.retraining.simulation import ArrayLogistic, ScenarioStream

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


def test_cooldown_silences_drift_and_performance_but_not_the_schedule():
    cool = RetrainingPolicy(
        max_age_days=30, drift_share_threshold=0.3, max_metric_drop=0.02,
        max_calibration_gap=0.02, cooldown_days=28,
    )  # fmt: skip
    alarms = {"drift": 0.5, "metric": 0.6, "baseline": 0.75}
    assert not decide(age_days=27, policy=cool, **alarms).retrain
    assert decide(age_days=28, policy=cool, **alarms).triggers == [
        "drift",
        "performance",
    ]
    assert decide(age_days=31, policy=cool).triggers == ["schedule"]


def test_calibration_gap_fires_the_performance_trigger_either_way():
    policy = RetrainingPolicy(
        max_age_days=None, drift_share_threshold=None, max_metric_drop=None,
        max_calibration_gap=0.025,
    )  # fmt: skip
    for gap, fires in [(0.03, True), (-0.03, True), (0.02, False), (None, False)]:
        decision = policy.should_retrain(
            NOW, NOW - timedelta(days=1), calibration_gap=gap
        )
        assert decision.retrain is fires, gap
    assert "calibration gap -0.030 (max 0.025)" in str(
        policy.should_retrain(NOW, NOW, calibration_gap=-0.03)
    )
    with pytest.raises(ValueError, match="calibration_gap"):
        policy.should_retrain(NOW, NOW, calibration_gap=1.5)


def test_drift_tests_match_evidentlys_defaults():
    """The fast tests give Evidently's method and distance, column by column."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    reference = data.generate_applications(3_000, seed=1)
    prepared = retraining.DriftReference(reference)
    for name in ("none", "covariate_shift", "new_category", "broken_feed"):
        current = data.drift_scenario(name, 800, seed=5).frame
        for feature in data.FEATURES:
            kind = (
                ColumnType.Categorical
                if feature in data.CATEGORICAL_FEATURES
                else ColumnType.Numerical
            )
            ref, cur = reference[feature].dropna(), current[feature].dropna()
            test = get_stattest(ref, cur, kind, None)
            expected = test(ref, cur, kind, None)
            method, distance = prepared.test(feature, current[feature])
            assert method == test.name, (name, feature)
            assert distance == pytest.approx(expected.drift_score, abs=1e-9)
            assert (distance >= 0.1) == bool(expected.drifted), (name, feature)


@pytest.mark.parametrize("seed", range(5))
def test_drift_tests_find_the_planted_features_and_nothing_else(seed):
    """Recall and false alarms against each scenario's planted truth.

    At 5,000 reference and 2,000 current rows; with fewer rows the distances'
    noise reaches the 0.1 threshold (the chapter's weekly batches need a
    persistence rule for that reason).
    """
    reference = data.generate_applications(5_000, seed=100 + seed)
    for name in ("none", "covariate_shift", "new_category", "broken_feed"):
        scenario = data.drift_scenario(name, 2_000, seed=seed)
        table = retraining.feature_drift(reference, scenario.frame)
        flagged = set(table.loc[table["drifted"], "feature"])
        planted = set(scenario.truth.drifted_features)
        assert not flagged - planted, f"{name}: false alarm on {flagged - planted}"
        # A distance test compares the values that arrived: employment years that
        # go missing (broken feed) keep their distribution. Missing values are the
        # data contract's job (validation), so they are the one planted change
        # the drift tests must not claim.
        missing_only = {
            f for f in planted if scenario.frame[f].isna().mean() > 0.3
        }  # fmt: skip
        assert flagged == planted - missing_only, f"{name}: missed {planted - flagged}"
        share = retraining.drift_share(reference, scenario.frame)
        assert share == pytest.approx(len(flagged) / len(data.FEATURES))


def test_drift_reference_refuses_small_or_empty_samples():
    small = data.generate_applications(500, seed=1)
    with pytest.raises(ValueError, match="more than 1,000 rows"):
        retraining.DriftReference(small)
    prepared = retraining.DriftReference(data.generate_applications(1_500, seed=1))
    with pytest.raises(ValueError, match="no values"):
        prepared.test("age", pd.Series([np.nan, np.nan]))


def test_drifting_weeks_ramp_in_the_scenario():
    weeks = data.drifting_weeks(
        5, scenario="new_category", onset_week=1, ramp_weeks=2, rows_per_week=400,
        history_weeks=2,
    )  # fmt: skip
    by_week = weeks.groupby("week")
    shares = by_week["scenario_share"].first()
    assert shares.to_dict() == {-2: 0, -1: 0, 0: 0, 1: 0.5, 2: 1, 3: 1, 4: 1}
    new = by_week["loan_purpose"].apply(lambda s: (s == data.NEW_PURPOSE).mean())
    assert new.loc[:0].eq(0).all() and 0 < new[1] < new[2]
    assert len(weeks) == 7 * 400
    assert weeks[data.TIMESTAMP_COLUMN].is_monotonic_increasing
    # Two scenarios of one seed share every row before the onset.
    other = data.drifting_weeks(
        5, scenario="covariate_shift", onset_week=1, ramp_weeks=2, rows_per_week=400,
        history_weeks=2,
    )  # fmt: skip
    before = weeks["week"] < 1
    pd.testing.assert_frame_equal(
        weeks[before].drop(columns="scenario_share"),
        other[before].drop(columns="scenario_share"),
    )


def test_the_simulations_model_is_the_course_pipeline():
    """The array version of make_model("logreg") gives the pipeline's probabilities."""
    frame = data.drifting_weeks(
        3, scenario="covariate_shift", onset_week=1, rows_per_week=600
    )  # fmt: skip
    stream = ScenarioStream(
        frame, label_delay_weeks=0, train_weeks=2, valid_weeks=1, reference_rows=2_000
    )
    fitted = ArrayLogistic([stream.weeks[0]])
    pipeline = modeling.make_model("logreg").fit(
        *modeling.features_and_target(stream.frames[0])
    )
    expected = pipeline.predict_proba(stream.frames[2][data.FEATURES])[:, 1]
    np.testing.assert_allclose(fitted.predict(stream.weeks[2]), expected, atol=1e-6)


SIM = {"label_delay_weeks": 3, "train_weeks": 4, "valid_weeks": 1}


@pytest.fixture(scope="module")
def shifted_weeks() -> pd.DataFrame:
    return data.drifting_weeks(
        12, scenario="covariate_shift", onset_week=2, ramp_weeks=1, rows_per_week=500,
        history_weeks=7,
    )  # fmt: skip


def test_simulation_never_retrains_without_a_policy(shifted_weeks):
    never = retraining.simulate(shifted_weeks, None, **SIM)
    assert not never["retrained"].any()
    assert never["week"].tolist() == list(range(12))
    assert never["model_age_weeks"].tolist() == list(range(12))
    # A cost per application is at most that of the costliest decision.
    assert never["served_cost"].between(0, modeling.COST_MISSED_DEFAULT).all()
    assert never["seen_auc"].isna().all() and never["drift_share"].isna().all()


def test_labels_arrive_after_the_delay_and_only_for_weeks_the_model_served(
    shifted_weeks,
):
    watch = RetrainingPolicy(
        max_age_days=None, drift_share_threshold=None, max_metric_drop=1.0
    )
    timeline = retraining.simulate(shifted_weeks, watch, monitor_weeks=1, **SIM)
    # At the start of week w the labels of week w - 4 have arrived (delay 3).
    seen = timeline["seen_auc"]
    assert seen.iloc[:4].isna().all() and seen.iloc[4:].notna().all()
    assert seen.iloc[4:].tolist() == pytest.approx(
        timeline["served_auc"].iloc[:-4].tolist()
    )


def test_persistent_drift_retrains_and_the_cooldown_limits_it(shifted_weeks):
    drift_only = RetrainingPolicy(
        max_age_days=None, drift_share_threshold=0.15, max_metric_drop=None,
        cooldown_days=28,
    )  # fmt: skip
    timeline = retraining.simulate(shifted_weeks, drift_only, **SIM)
    weeks = timeline.loc[timeline["retrained"], "week"].tolist()
    # The shift arrives in week 2; two drifted weeks are seen at the start of week 4.
    assert weeks[0] == 4
    assert timeline.loc[4, "triggers"] == "drift"
    assert all(b - a >= 4 for a, b in pairwise(weeks))
    # While a model is younger than the cooldown, drift is not even measured.
    assert timeline.loc[1:3, "drift_share"].isna().all()
    assert timeline.loc[5:7, "drift_share"].isna().all()
    # A retrain may learn only from labelled weeks: here before the shift, so the
    # drift persists against the new model's training rows too.
    assert timeline.loc[weeks[0] + 4, "drift_share"] > 0


def test_compare_policies_pairs_seeds_and_intervals_cover_the_mean():
    policies = {
        "never": None,
        "schedule": RetrainingPolicy(
            max_age_days=28, drift_share_threshold=None, max_metric_drop=None
        ),
    }
    results = retraining.compare_policies(
        policies, ["concept_drift"], [0, 1, 2], n_weeks=10, rows_per_week=300,
        onset_week=2, label_delay_weeks=2, train_weeks=4, valid_weeks=1,
    )  # fmt: skip
    assert len(results) == 6
    assert results.groupby("policy")["retrains"].max().to_dict() == {
        "never": 0,
        "schedule": 2,
    }
    diff = retraining.paired_difference(results, "schedule", "never")
    (row,) = diff.to_dict("records")
    wide = results.pivot(index="seed", columns="policy", values="cost")
    assert row["mean"] == pytest.approx((wide["schedule"] - wide["never"]).mean())
    assert row["low"] < row["mean"] < row["high"] and row["seeds"] == 3
    with pytest.raises(ValueError, match="two seeds"):
        retraining.paired_difference(results[results["seed"] == 0], "schedule", "never")
