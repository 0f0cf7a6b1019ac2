"""Drift and performance monitoring (mlops_course.monitoring, chapter 13)."""

from __future__ import annotations

from urllib.parse import urlsplit

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


def test_gradual_mix_moves_from_reference_to_scenario():
    weeks = monitoring.gradual_mix(5, 40, seed=3)
    assert weeks.groupby("week").size().tolist() == [40] * 5
    shares = weeks.groupby("week")["drifted_share"].first().tolist()
    assert shares == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert weeks.equals(monitoring.gradual_mix(5, 40, seed=3))
    novel = monitoring.gradual_mix(3, 400, scenario="new_category", seed=3)
    new_purpose = novel["loan_purpose"].eq("buy_now_pay_later")
    assert new_purpose.groupby(novel["week"]).sum().tolist()[0] == 0
    assert new_purpose.groupby(novel["week"]).mean().tolist()[2] > 0.1
    with pytest.raises(ValueError, match="2 weeks"):
        monitoring.gradual_mix(1, 40)


def test_weekly_summary_has_one_row_a_week():
    frame = data.generate_applications(1_500, seed=1)
    model = modeling.make_model("logreg").fit(*modeling.features_and_target(frame))
    weeks = monitoring.gradual_mix(3, 300, seed=5)
    summary = monitoring.weekly_summary(model, weeks, threshold=0.2)
    assert summary["week"].tolist() == [0, 1, 2]
    assert summary["drifted_share"].tolist() == [0.0, 0.5, 1.0]
    assert summary["default_rate"].between(0, 1).all()
    assert summary["roc_auc"].between(0.5, 1).all()


# --------------------------------------------------------------- the book's copy
def fake_report(library: str, ids: tuple[str, str]) -> str:
    return (
        f"<html><head><script>var metric_{ids[0]} = {{'id': '{ids[1]}'}};</script>"
        f"</head><body><div id='root_metric_{ids[0]}'></div>"
        f"<script>{library}</script></body></html>"
    )


def test_published_report_shares_the_library_and_has_stable_ids(tmp_path):
    name, library = monitoring.evidently_library()
    assert name.startswith("evidently-") and len(library) > 1_000_000
    first = fake_report(library, ("ab" * 16, "01a21bce-6e14-746b-a106-6120b9f7a6a1"))
    second = fake_report(library, ("cd" * 16, "01a21bce-67db-7bf0-9ffd-b9630bc021bc"))
    one = monitoring.publish_report(first, tmp_path / "a" / "drift.html").read_text()
    two = monitoring.publish_report(second, tmp_path / "b" / "drift.html").read_text()
    assert one == two  # only the random ids differed
    assert f'<script src="{name}"></script>' in one and library not in one
    assert "ab" * 16 not in one and "6120b9f7a6a1" not in one
    assert one.count("metric_") == 2  # both mentions renamed alike
    assert (tmp_path / "a" / name).read_text() == library
    with pytest.raises(ValueError, match="inlined library"):
        monitoring.publish_report("<html></html>", tmp_path / "c.html")


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


@pytest.mark.slow
def test_published_report_renders_offline_in_chromium(tmp_path, reference_and_model):
    from playwright.sync_api import sync_playwright  # pinned: never a skip

    from tools.browser import CHROMIUM_ARGS, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on PATH")
    reference, model = reference_and_model
    batch = data.drift_scenario("covariate_shift", 1_000)
    snapshot = monitoring.monitor(model, reference, batch.frame, with_labels=False)
    html = snapshot.drift.get_html_str(as_iframe=False)
    path = monitoring.publish_report(html, tmp_path / "drift.html")
    outside, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def route(r) -> None:
                if urlsplit(r.request.url).scheme in ("file", "data", "blob"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_selector("svg.main-svg", timeout=30_000)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert outside == [] and errors == []
    assert "Drift is detected for 23.077% of columns (3 out of 13)" in text


def test_book_reports_use_the_installed_evidently_library():
    """The committed reports load the library of the Evidently in the lock.

    The library itself is not in git (3.5 MB): the book build writes it from the
    installed package (book/_ext/course_book.py), and so does the notebook.
    """
    from mlops_course.workspace import course_root

    root = course_root()
    assert root is not None
    reports = root / "book" / "_extra" / "reports"
    name, library = monitoring.evidently_library()
    pages = sorted(reports.glob("*.html"))
    assert pages, "chapter 13 writes its reports here (make outputs)"
    assert len(library) > 1_000_000
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert f'<script src="{name}"></script>' in text, page.name
        assert "cdn." not in text and "https://" not in text.split("<body>")[0]
