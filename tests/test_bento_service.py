"""The BentoML service of chapter 15 and the serving benchmark (bento_service)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from mlops_course import serving
from mlops_course.modeling import features_and_target
from mlops_course.serialization import to_onnx
from mlops_course.serving import Application, to_records


@pytest.fixture(scope="module")
def model(trained_logreg, tmp_path_factory):
    pipeline, train, test = trained_logreg(2_000, seed=11)
    path = tmp_path_factory.mktemp("bento") / "model.onnx"
    path.write_bytes(to_onnx(pipeline, features_and_target(train)[0]))
    rows = [Application.model_validate(r) for r in to_records(test.iloc[:20])]
    proba = serving.OnnxEngine(path.read_bytes()).predict_proba(
        serving.columns_of(rows)
    )
    return path, rows, float(np.median(proba))  # a threshold that splits the rows


@pytest.fixture(scope="module")
def bento_service():
    from mlops_course import bento_service

    return bento_service


@pytest.fixture
def service(bento_service, model, monkeypatch):
    path, _, threshold = model
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    monkeypatch.setenv("MLOPS_ONNX_PATH", str(path))
    monkeypatch.setenv("MLOPS_THRESHOLD", str(threshold))
    return bento_service.CreditDefault.inner()  # the class BentoML would serve


def test_routes_and_adaptive_batching_are_declared(bento_service):
    apis = bento_service.CreditDefault.apis
    assert set(apis) == {"predict", "predict_batched"}
    assert not apis["predict"].batchable
    batched = apis["predict_batched"]
    assert batched.batchable and batched.max_batch_size == 32
    assert batched.max_latency_ms == 1_000


def test_answers_equal_the_course_engine_and_apply_the_threshold(service, model):
    path, rows, threshold = model
    want = serving.OnnxEngine(path.read_bytes()).predict_proba(serving.columns_of(rows))
    one = service.predict(rows[0])
    many = service.predict_batched(rows)
    assert one.probability_of_default == pytest.approx(want[0], abs=1e-6)
    got = np.array([a.probability_of_default for a in many])
    assert np.allclose(got, want, atol=1e-6)
    decisions = [a.decision for a in many]
    assert decisions == ["reject" if p >= threshold else "approve" for p in got]
    assert {"approve", "reject"} <= set(decisions)  # the threshold cut the rows


def test_a_missing_model_file_fails_at_start(bento_service, tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_ONNX_PATH", str(tmp_path / "gone.onnx"))
    with pytest.raises(FileNotFoundError, match="gone.onnx"):
        bento_service.CreditDefault.inner()


def test_the_answer_model_refuses_an_impossible_probability(bento_service):
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        bento_service.Answer(probability_of_default=1.5, decision="reject")


def test_the_threshold_travels_with_the_model_or_the_service_refuses(
    bento_service, model, monkeypatch, tmp_path
):
    path, _, threshold = model
    copy = tmp_path / "model.onnx"
    copy.write_bytes(path.read_bytes())
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    monkeypatch.setenv("MLOPS_ONNX_PATH", str(copy))
    monkeypatch.delenv("MLOPS_THRESHOLD", raising=False)
    with pytest.raises(serving.ModelLoadError, match="carries no decision threshold"):
        bento_service.CreditDefault.inner()
    serving.save_model_metadata(copy, {"decision_threshold": 0.17})
    monkeypatch.setenv("MLOPS_THRESHOLD", str(threshold))  # the file's own wins
    assert bento_service.CreditDefault.inner().threshold == 0.17
