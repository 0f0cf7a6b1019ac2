"""The drift check flags a planted shift and stays quiet on a fresh sample."""

import pytest
from monitor.drift import main, verdict
from monitor.ingest import ingest

from mlops_course.data import drift_scenario, generate_applications


@pytest.fixture(scope="module")
def reference():
    return generate_applications(2_000, seed=42)


def test_a_fresh_sample_is_not_drifted(reference):
    result = verdict(reference, drift_scenario("none", 1_000).frame, 0.2)
    assert not result["drifted"], result


def test_a_downturn_is_drifted_in_the_planted_features(reference):
    scenario = drift_scenario("covariate_shift", 1_000)
    result = verdict(reference, scenario.frame, 0.2)
    assert result["drifted"], result
    assert set(scenario.truth.drifted_features) <= set(result["drifted_features"])


def test_a_batch_without_the_model_columns_is_refused(reference):
    batch = drift_scenario("none", 100).frame.drop(columns=["loan_amount"])
    with pytest.raises(ValueError, match="loan_amount"):
        verdict(reference, batch, 0.2)


def test_ingest_appends_only_new_applications_in_time_order(reference):
    batch = drift_scenario("none", 100).frame
    batch["application_id"] = "B" + batch["application_id"]
    once = ingest(reference, batch)
    assert len(once) == len(reference) + len(batch)
    assert once["event_timestamp"].is_monotonic_increasing
    assert len(ingest(once, batch)) == len(once)  # idempotent


def test_the_command_line_refuses_a_missing_batch(tmp_path, capsys):
    assert main([str(tmp_path / "nothing.parquet")]) == 2
    assert "drift check ERROR" in capsys.readouterr().err
