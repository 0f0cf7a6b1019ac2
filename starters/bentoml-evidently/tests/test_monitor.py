"""Evidently flags data and prediction drift on a downturn, not on a fresh sample."""

import bentoml
import joblib
import pandas as pd
import pytest
from monitor import check

from mlops_course.data import drift_scenario
from mlops_course.monitoring import scored_frame


@pytest.fixture(scope="module")
def model_and_reference(trained):
    tag, work = trained
    model = joblib.load(bentoml.models.get(tag).path_of("model.joblib"))
    return model, pd.read_parquet(work / "reference.parquet")


def test_a_fresh_sample_raises_no_alarm(model_and_reference):
    model, reference = model_and_reference
    batch = scored_frame(model, drift_scenario("none", 1_000).frame)
    _, found = check(reference, batch)
    assert not found.drifted_columns and not found.prediction_drift


def test_a_downturn_moves_the_features_and_the_predictions(model_and_reference):
    model, reference = model_and_reference
    scenario = drift_scenario("covariate_shift", 1_000)
    _, found = check(reference, scored_frame(model, scenario.frame))
    assert set(scenario.truth.drifted_features) <= set(found.drifted_columns)
    assert found.prediction_drift


def test_a_batch_without_predictions_is_refused(model_and_reference):
    _, reference = model_and_reference
    with pytest.raises(ValueError, match="prediction"):
        check(reference, drift_scenario("none", 50).frame)
