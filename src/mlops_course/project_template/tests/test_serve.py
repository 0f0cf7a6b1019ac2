"""The service serves the pipeline's model with its threshold, and refuses bad input."""

import asyncio
import json

import httpx
import joblib
import pytest
from serve.app import METRICS, MODEL, create

from mlops_course.data import FEATURES, TARGET, generate_applications
from mlops_course.modeling import make_model
from mlops_course.serving import to_records


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A folder holding what `dvc repro` leaves: a model and metrics.json."""
    root = tmp_path_factory.mktemp("served")
    frame = generate_applications(1_500, seed=3)
    model = make_model("logreg", seed=0).fit(frame[FEATURES], frame[TARGET])
    (root / MODEL).parent.mkdir(parents=True)
    joblib.dump(model, root / MODEL)
    (root / METRICS).write_text(json.dumps({"threshold": 0.3}))
    return root, frame


def call(root, method, path, **kwargs):
    """One request to the app, in process, after its start-up (the model loads)."""

    async def go():
        app = create(root)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, path, **kwargs)

    return asyncio.run(go())


def test_a_prediction_uses_the_threshold_the_pipeline_chose(project):
    root, frame = project
    answer = call(root, "POST", "/predict", json=to_records(frame.head(1))[0])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["threshold"] == 0.3
    expected = "reject" if body["probability_of_default"] >= 0.3 else "approve"
    assert body["decision"] == expected


def test_an_impossible_application_gets_a_422_naming_the_field(project):
    root, frame = project
    application = to_records(frame.head(1))[0] | {"age": 7}
    answer = call(root, "POST", "/predict", json=application)
    assert answer.status_code == 422
    assert "age" in answer.text


def test_without_a_trained_model_the_service_is_not_ready(tmp_path):
    (tmp_path / METRICS).write_text(json.dumps({"threshold": 0.3}))
    (tmp_path / "models").mkdir()
    assert call(tmp_path, "GET", "/health").status_code == 200
    assert call(tmp_path, "GET", "/ready").status_code == 503
