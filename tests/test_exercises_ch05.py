"""Chapter 5's exercise checks, on a right answer and on wrong ones."""

import json
import math

import pytest
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from mlops_course import data, modeling, serialization
from mlops_course.exercises import ch05


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    split = data.time_split(data.generate_applications(2_000, seed=1))
    X_train, y_train = modeling.features_and_target(split.train)
    X_test, _ = modeling.features_and_target(split.test.iloc[:50])
    model = modeling.make_model("logreg", seed=1).fit(X_train, y_train)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(serialization.to_onnx(model, X_train))
    served = serialization.OnnxModel(path.read_bytes()).predict_proba(X_test)
    return path, served, model.predict_proba(X_test)[:, 1]


def test_onnx_service_accepts_the_onnx_engine_in_parity(exported):
    path, served, in_process = exported
    answers = {"probability_of_default": served.tolist()}
    fb = ch05.onnx_service(path, "onnx", answers, in_process=in_process)
    assert fb.ok is True, fb.message
    fb = ch05.onnx_service(path, "sklearn", answers, in_process=in_process)
    assert fb.message == (
        "/metadata reports the 'sklearn' engine: the service did not load your "
        "file; pass onnx_path to serving.Settings"
    )


def test_onnx_service_refuses_other_answers_or_a_bad_file(exported, tmp_path):
    path, served, in_process = exported
    shifted = {"probability_of_default": (served + 0.01).tolist()}
    fb = ch05.onnx_service(path, "onnx", shifted, in_process=in_process)
    assert fb.ok is False
    assert "more than 1e-05: is the ONNX file the same model?" in fb.message
    fb = ch05.onnx_service(
        path,
        "onnx",
        {"probability_of_default": served[:10].tolist()},
        in_process=in_process,
    )
    assert fb.message.startswith("10 probabilities for the 50 test applications")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    fb = ch05.onnx_service(junk, "onnx", {}, in_process=in_process)
    assert fb.message.startswith("junk.onnx is not a valid ONNX model")


def answer(n_reject, n=500):
    return {"decision": ["reject"] * n_reject + ["approve"] * (n - n_reject)}


def test_drift_contract_accepts_a_broken_feed_that_passes_and_rejects_more():
    fb = ch05.drift_contract(
        {"none": (200, answer(60)), "broken_feed": (200, answer(300))}
    )
    assert fb.ok is True, fb.message
    fb = ch05.drift_contract(
        {"none": (200, answer(60)), "broken_feed": (200, answer(60))}
    )
    assert fb.ok is False
    assert "the broken feed is rejected no more often than clean data" in fb.message


def test_drift_contract_refuses_a_missing_scenario_or_a_refused_batch():
    fb = ch05.drift_contract({"none": (200, answer(60))})
    assert fb.message == "no answer for broken_feed: send both scenarios"
    fb = ch05.drift_contract({"none": (200, answer(60)), "broken_feed": (422, {})})
    assert fb.message.startswith("the broken_feed batch got a 422")


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    debt_to_income: float = Field(ge=0, le=10)


def make_app(with_handler: bool) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    def predict(applicant: Applicant) -> dict:
        return {"ok": True}

    if with_handler:

        def finite(value):
            if isinstance(value, float) and not math.isfinite(value):
                return str(value)
            if isinstance(value, dict):
                return {k: finite(v) for k, v in value.items()}
            if isinstance(value, list):
                return [finite(v) for v in value]
            return value

        @app.exception_handler(RequestValidationError)
        async def invalid(request, exc):
            return JSONResponse({"detail": finite(jsonable_encoder(exc.errors()))}, 422)

    return app


NAN_BODY = b'{"debt_to_income": NaN}'


def post(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        return client.post(
            "/predict", content=NAN_BODY, headers={"content-type": "application/json"}
        )


def test_nan_handler_accepts_the_handled_app():
    app = make_app(with_handler=True)
    fb = ch05.nan_handler(post(app), app, body=NAN_BODY)
    assert fb.ok is True, fb.message
    assert json.dumps(post(app).json())  # NaN written as text


def test_nan_handler_refuses_the_default_handler():
    app = make_app(with_handler=False)
    fb = ch05.nan_handler(post(app), app, body=NAN_BODY)
    assert fb.message == (
        "in your response the NaN body got a 500, not a 422: the default handler "
        "cannot write NaN in JSON; register a handler for RequestValidationError "
        "that writes non-finite inputs as text"
    )
    # A right response kept from before the app was changed back: the app decides.
    fb = ch05.nan_handler(post(make_app(with_handler=True)), app, body=NAN_BODY)
    assert fb.ok is False
    assert fb.message.startswith("posted to your app again, the NaN body got a 500")
