"""Drift and performance monitoring (mlops_course.monitoring, chapter 13)."""

from __future__ import annotations

import pytest

from mlops_course import data, modeling, monitoring
from mlops_course.monitoring import Detection, Outcome

TRUTH = {name: truth for name, (truth, _) in data.SCENARIOS.items()}


def drift_test(column: str, status: str = "FAIL") -> Outcome:
    return Outcome("ValueDrift", column, f"Value Drift for column {column}", status)


def missing_test(column: str, status: str = "FAIL") -> Outcome:
    return Outcome("MissingValueCount", column, f"{column} missing", status)


# ------------------------------------------------------------ reading tests (fast)
def test_failed_tests_become_a_detection():
    tests = [
        drift_test("age", "SUCCESS"),
        drift_test("loan_amount"),
        drift_test("annual_income", "WARNING"),
        drift_test(monitoring.PREDICTION),
        missing_test("employment_years"),
        missing_test("age", "SUCCESS"),
        Outcome("DriftedColumnsCount", None, "share of drifted columns", "FAIL"),
    ]
    found = monitoring.detection_of(tests)
    # Generator order, not test order; the prediction is not a feature.
    assert found.drifted_columns == ("annual_income", "loan_amount")
    assert found.missing_columns == ("employment_years",)
    assert found.prediction_drift and found.data_quality_issue
    assert found.flagged_columns == ("annual_income", "employment_years", "loan_amount")
    assert found.performance_drop is None and not found.concept_drift
    passed = [Outcome("MeanValue", "residual", "calibration", "SUCCESS")]
    assert monitoring.detection_of([], passed) == Detection(performance_drop=False)


def test_concept_drift_is_a_drop_without_moved_features():
    assert Detection(performance_drop=True).concept_drift
    assert not Detection(drifted_columns=("age",), performance_drop=True).concept_drift
    assert not Detection(missing_columns=("age",), performance_drop=True).concept_drift
    assert not Detection(performance_drop=None).concept_drift
    assert not Detection().alarm and Detection(prediction_drift=True).alarm


def test_a_perfect_detection_matches_every_scenario():
    perfect = {
        "none": Detection(performance_drop=False),
        "covariate_shift": Detection(
            drifted_columns=TRUTH["covariate_shift"].drifted_features,
            performance_drop=True,  # explained by the moved features
        ),
        "new_category": Detection(drifted_columns=("loan_purpose",)),
        "concept_drift": Detection(performance_drop=True),
        "broken_feed": Detection(
            drifted_columns=("annual_income",),
            missing_columns=("employment_years",),
            performance_drop=True,
        ),
    }
    assert set(perfect) == set(TRUTH)
    for name, detection in perfect.items():
        assert monitoring.mismatches(detection, TRUTH[name]) == [], name


def test_mismatches_say_what_went_wrong():
    said = monitoring.mismatches(
        Detection(drifted_columns=("age", "annual_income"), performance_drop=False),
        TRUTH["broken_feed"],
    )
    assert said == [
        "false alarm on ['age']",
        "missed drift in ['employment_years']",
        "missed a data-quality issue",
    ]
    assert monitoring.mismatches(Detection(performance_drop=False), TRUTH["none"]) == []
    assert monitoring.mismatches(Detection(), TRUTH["concept_drift"]) == []
    assert monitoring.mismatches(
        Detection(performance_drop=False), TRUTH["concept_drift"]
    ) == ["missed concept drift"]
    assert monitoring.mismatches(Detection(performance_drop=True), TRUTH["none"]) == [
        "reported concept drift"
    ]


def test_weekly_summary_has_one_row_a_week():
    frame = data.generate_applications(1_500, seed=1)
    model = modeling.make_model("logreg").fit(*modeling.features_and_target(frame))
    weeks = data.drifting_weeks(
        3, onset_week=1, ramp_weeks=2, rows_per_week=300, seed=5, mixing="blocks"
    )
    summary = monitoring.weekly_summary(model, weeks, threshold=0.2)
    assert summary["week"].tolist() == [0, 1, 2]
    assert summary["drifted_share"].tolist() == [0.0, 0.5, 1.0]
    assert summary["default_rate"].between(0, 1).all()
    assert summary["roc_auc"].between(0.5, 1).all()


# ------------------------------------------------ the real Evidently on each scenario
@pytest.fixture(scope="module")
def reference_and_model():
    frame = data.generate_applications(6_000, seed=42)
    train, reference = frame.iloc[:4_000], frame.iloc[4_000:]
    model = modeling.make_model("logreg").fit(*modeling.features_and_target(train))
    return reference, model


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(data.SCENARIOS))
def test_monitor_finds_what_each_scenario_planted(scenario, reference_and_model):
    reference, model = reference_and_model
    batch = data.drift_scenario(scenario, 1_000)
    result = monitoring.monitor(model, reference, batch.frame)
    assert monitoring.mismatches(result.detection, batch.truth) == []
    assert result.detection.alarm == (scenario != "none")
    unlabelled = monitoring.monitor(model, reference, batch.frame, with_labels=False)
    assert unlabelled.performance is None
    assert unlabelled.detection.performance_drop is None
    # The report-free screen reaches the reports' verdict, labels or not.
    assert monitoring.screen(model, reference, batch.frame) == result.detection
    quick = monitoring.screen(model, reference, batch.frame, with_labels=False)
    assert quick == unlabelled.detection


@pytest.mark.slow
def test_screen_agrees_with_the_reports_where_drift_is_borderline(
    reference_and_model,
):
    """Small batches put scores near the thresholds: the verdicts still agree."""
    reference, model = reference_and_model
    for seed in range(4):
        batch = data.drift_scenario("covariate_shift", 400, seed=seed).frame
        report = monitoring.monitor(model, reference, batch).detection
        assert monitoring.screen(model, reference, batch) == report, seed
