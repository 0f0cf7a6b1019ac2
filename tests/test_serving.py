"""The model service: routes, engines, bad input of every kind, MLflow, uvicorn."""

from __future__ import annotations

import hashlib
import json
import math

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops_course import serving
from mlops_course.data import FEATURES
from mlops_course.loadtest import LoadTestError, run_load
from mlops_course.modeling import features_and_target, make_model
from mlops_course.serialization import to_onnx
from mlops_course.servers import serve
from mlops_course.serving import ARROW_STREAM, Settings, to_arrow_stream, to_records
from mlops_course.tracking import data_fingerprint
from tests.serving_helpers import client_for, log_version

THRESHOLD = 0.2
JSON = {"content-type": "application/json"}
ARROW = {"content-type": ARROW_STREAM}


@pytest.fixture(scope="module")
def data(trained_logreg):
    _, train, test = trained_logreg(3_000, seed=3)
    return train, test


@pytest.fixture(scope="module")
def pipeline(trained_logreg):
    return trained_logreg(3_000, seed=3).pipeline


@pytest.fixture(scope="module")
def model_file(pipeline, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(pipeline, path)
    return path


@pytest.fixture
def settings(model_file, data):
    return Settings(
        model_path=model_file,
        model_version="7",
        training_data_hash=data_fingerprint(data[0]),
        threshold=THRESHOLD,
    )


def expected(pipeline, frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(frame[FEATURES])[:, 1]


def error_fields(response: httpx.Response) -> list[str]:
    return [".".join(map(str, e["loc"][1:])) for e in response.json()["detail"]]


# ----------------------------------------------------------------------------- routes
@pytest.mark.anyio
async def test_health_ready_and_metadata(settings, data):
    async with client_for(settings) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200 and ready.json()["model_version"] == "7"
        meta = (await client.get("/metadata")).json()
    assert meta["model_name"] == "credit-default" and meta["model_version"] == "7"
    assert meta["training_data_hash"] == data_fingerprint(data[0])
    assert meta["engine"] == "onnx" and meta["model_source"] == "file:model.joblib"
    assert meta["threshold"] == THRESHOLD
    assert meta["threshold_source"] == "MLOPS_THRESHOLD setting"
    assert meta["features"] == FEATURES


@pytest.mark.anyio
async def test_every_model_answer_names_its_model_in_headers(settings, data):
    rows = data[1].iloc[:3]
    async with client_for(settings) as client:
        answers = {
            "/predict": await client.post("/predict", json=to_records(rows)[0]),
            "/predict/batch": await client.post(
                "/predict/batch", json={"applications": to_records(rows)}
            ),
            "/predict/batch/arrow": await client.post(
                "/predict/batch/arrow", content=to_arrow_stream(rows), headers=ARROW
            ),
            "/ready": await client.get("/ready"),
            "/metadata": await client.get("/metadata"),
        }
        refused = await client.post("/predict", json={"age": "old"})
        health = await client.get("/health")
        spec = (await client.get("/openapi.json")).json()
    meta = answers["/metadata"].json()
    for route, answer in answers.items():
        assert answer.status_code == 200, route
        assert answer.headers[serving.MODEL_NAME_HEADER] == meta["model_name"], route
        assert answer.headers[serving.MODEL_VERSION_HEADER] == "7", route
        method = "get" if route in ("/ready", "/metadata") else "post"
        declared = spec["paths"][route][method]["responses"]["200"]
        assert set(declared["headers"]) == {"X-Model-Name", "X-Model-Version"}, route
        assert "content" in declared, route  # the response model is still there
    # No model answered a refused request or the liveness probe: no model named.
    assert refused.status_code == 422
    for answer in (refused, health):
        assert serving.MODEL_VERSION_HEADER not in answer.headers


@pytest.mark.anyio
async def test_without_a_model_no_answer_claims_one(tmp_path):
    settings = Settings(model_path=tmp_path / "missing.joblib", threshold=THRESHOLD)
    async with client_for(settings) as client:
        ready = await client.get("/ready")
    assert ready.status_code == 503
    assert serving.MODEL_NAME_HEADER not in ready.headers


@pytest.mark.anyio
@pytest.mark.parametrize("engine", ["onnx", "sklearn"])
async def test_answers_agree_with_predict_proba(model_file, pipeline, data, engine):
    rows = data[1].iloc[:300]
    want = expected(pipeline, rows)
    settings = Settings(model_path=model_file, threshold=THRESHOLD, engine=engine)
    async with client_for(settings) as client:
        one = (await client.post("/predict", json=to_records(rows.iloc[:1])[0])).json()
        batch = await client.post(
            "/predict/batch", json={"applications": to_records(rows)}
        )
        arrow = await client.post(
            "/predict/batch/arrow", content=to_arrow_stream(rows), headers=ARROW
        )
    tolerance = 1e-5 if engine == "onnx" else 1e-12  # ONNX Runtime uses float32
    assert one["probability_of_default"] == pytest.approx(want[0], abs=tolerance)
    assert one["decision"] == ("reject" if want[0] >= THRESHOLD else "approve")
    for answer in (batch.json(), arrow.json()):
        assert answer["n_rows"] == 300
        np.testing.assert_allclose(answer["probability_of_default"], want, atol=1e-5)
        got = np.array(answer["decision"]) == "reject"
        close = np.abs(want - THRESHOLD) < 1e-5  # float32 may land either side
        assert np.array_equal(got[~close], (want >= THRESHOLD)[~close])


@pytest.mark.anyio
async def test_serves_an_onnx_file(pipeline, data, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(to_onnx(pipeline, data[0][FEATURES]))
    serving.save_model_metadata(path, {"decision_threshold": THRESHOLD})
    async with client_for(Settings(onnx_path=path)) as client:
        meta = (await client.get("/metadata")).json()
        rows = data[1].iloc[:50]
        answer = (
            await client.post("/predict/batch", json={"applications": to_records(rows)})
        ).json()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert meta["engine"] == "onnx" and meta["model_version"] == f"sha256:{digest}"
    assert meta["threshold"] == THRESHOLD
    assert meta["threshold_source"] == "model metadata (model.onnx.metadata.json)"
    np.testing.assert_allclose(
        answer["probability_of_default"], expected(pipeline, rows), atol=1e-5
    )


# ------------------------------------------------------------------------- bad input
def good_body(data) -> dict:
    return to_records(data[1].iloc[:1])[0]


def raw(record: dict, **changes: str) -> bytes:
    """The JSON of ``record`` with some values replaced by raw JSON text."""
    text = json.dumps({**record, **{k: "@" + k for k in changes}})
    for name, value in changes.items():
        text = text.replace(f'"@{name}"', value)
    return text.encode()


BAD_INPUTS = {
    # name: (body builder, headers, status, text the answer must contain)
    "not UTF-8": (
        lambda r: b'{"region": "\xff"}',
        JSON,
        400,
        "not valid UTF-8",
    ),
    "NaN": (lambda r: raw(r, debt_to_income="NaN"), JSON, 422, "finite number"),
    "Infinity": (lambda r: raw(r, loan_amount="Infinity"), JSON, 422, "finite number"),
    "1e309": (lambda r: raw(r, annual_income="1e309"), JSON, 422, "finite number"),
    "false as a number": (
        lambda r: raw(r, debt_to_income="false"),
        JSON,
        422,
        "valid number",
    ),
    "number as text": (lambda r: raw(r, age='"30"'), JSON, 422, "valid integer"),
    "out of range": (lambda r: raw(r, age="200"), JSON, 422, "less than or equal"),
    "unknown category": (
        lambda r: raw(r, loan_purpose='"buy_now_pay_later"'),
        JSON,
        422,
        "loan_purpose",
    ),
    "extra field": (lambda r: raw(r, nickname='"Al"'), JSON, 422, "Extra inputs"),
    "missing field": (
        lambda r: json.dumps({k: v for k, v in r.items() if k != "age"}).encode(),
        JSON,
        422,
        "Field required",
    ),
    "not JSON": (lambda r: b"{age: 30", JSON, 422, "JSON decode error"),
    "text/plain": (
        lambda r: json.dumps(r).encode(),
        {"content-type": "text/plain"},
        415,
        "send application/json, not text/plain",
    ),
    "no content type": (lambda r: json.dumps(r).encode(), {}, 415, "no content type"),
    "empty body": (lambda r: b"", JSON, 422, "Field required"),
    "nested too deep": (lambda r: b"[" * 100_000, JSON, 400, "nested too deeply"),
    "oversized": (
        lambda r: b" " * (serving.MAX_BODY_BYTES + 1),
        JSON,
        413,
        "Content Too Large",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["/predict", "/predict/batch"])
async def test_every_bad_input_gets_a_named_4xx_then_service_goes_on(
    settings, data, route
):
    record = good_body(data)
    async with client_for(settings) as client:
        for name, (build, headers, status, text) in BAD_INPUTS.items():
            body = build(record)
            if route == "/predict/batch" and body.startswith(b"{"):
                body = b'{"applications": [' + body + b"]}"
            response = await client.post(route, content=body, headers=headers)
            assert response.status_code == status, (name, response.text)
            assert text in response.text, (name, response.text)
        good = {"applications": [record]} if route.endswith("batch") else record
        assert (await client.post(route, json=good)).status_code == 200


@pytest.mark.anyio
async def test_batch_size_is_limited(settings, data):
    record = good_body(data)
    async with client_for(settings) as client:
        too_many = [record] * (serving.MAX_BATCH_ROWS + 1)
        big = await client.post("/predict/batch", json={"applications": too_many})
        none = await client.post("/predict/batch", json={"applications": []})
    assert big.status_code == 422 and "at most 10000 items" in big.text
    assert none.status_code == 422 and "at least 1 item" in none.text


@pytest.mark.anyio
async def test_validation_errors_are_capped(settings, data):
    bad = [{**good_body(data), "age": 5}] * 100
    async with client_for(settings) as client:
        response = await client.post("/predict/batch", json={"applications": bad})
    detail = response.json()["detail"]
    assert response.status_code == 422 and len(detail) == serving.MAX_ERRORS_SHOWN + 1
    assert detail[-1]["msg"] == "80 more errors not shown"


def to_arrow_stream_any(frame: pd.DataFrame) -> bytes:
    """Any frame (wrong columns or types included) as an Arrow IPC stream."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.anyio
async def test_arrow_batches_are_checked_by_pyarrow(settings, data):
    rows = data[1][FEATURES].iloc[:20].reset_index(drop=True)
    cases = {
        "garbage": (b"not arrow at all", "not an Arrow IPC stream"),
        "missing": (to_arrow_stream_any(rows.drop(columns="age")), "Field required"),
        "extra": (to_arrow_stream_any(rows.assign(x=1)), "Extra inputs"),
        "text age": (to_arrow_stream_any(rows.assign(age="30")), "integer column"),
        "bool dti": (
            to_arrow_stream_any(rows.assign(debt_to_income=True)),
            "number column",
        ),
        "range": (to_arrow_stream_any(rows.assign(age=200)), "less than or equal"),
        "nan": (
            to_arrow_stream_any(rows.assign(loan_amount=math.inf)),
            "finite number",
        ),
        "category": (
            to_arrow_stream_any(rows.assign(region="moon")),
            "Input should be 'north'",
        ),
        "term": (to_arrow_stream_any(rows.assign(loan_term_months=13)), "12, 24"),
        "null": (
            to_arrow_stream_any(rows.assign(age=np.nan)),
            "Field required (20 null rows)",
        ),
    }
    async with client_for(settings) as client:
        for name, (body, text) in cases.items():
            response = await client.post(
                "/predict/batch/arrow", content=body, headers=ARROW
            )
            assert response.status_code == 422 and text in response.text, name
        wrong_type = await client.post(
            "/predict/batch/arrow", content=to_arrow_stream(rows), headers=JSON
        )
        ok = await client.post(
            "/predict/batch/arrow", content=to_arrow_stream(rows), headers=ARROW
        )
    assert wrong_type.status_code == 415
    assert ok.status_code == 200 and ok.json()["n_rows"] == 20


# ----------------------------------------------------------------------------- no model
@pytest.mark.anyio
async def test_without_a_model_health_is_up_and_the_rest_says_why(data, tmp_path):
    missing = Settings(model_path=tmp_path / "nowhere.joblib")
    async with client_for(missing) as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        predict = await client.post("/predict", json=good_body(data))
    assert ready.status_code == 503 and predict.status_code == 503
    assert "model file not found: nowhere.joblib" in ready.json()["detail"]
    async with client_for(Settings()) as client:
        response = await client.get("/metadata")
    assert response.status_code == 503 and "no model configured" in response.text


@pytest.mark.anyio
async def test_a_file_that_is_not_a_model_gives_503(tmp_path):
    bad = tmp_path / "model.joblib"
    joblib.dump({"not": "a model"}, bad)
    async with client_for(Settings(model_path=bad, threshold=THRESHOLD)) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert "dict has no predict_proba" in response.json()["detail"]


class Exploding:
    """A 'model' whose predictions fail: the client gets a 500 without a traceback."""

    def predict_proba(self, frame):
        raise RuntimeError("secret internals /srv/models")


@pytest.mark.anyio
async def test_a_failing_model_gives_500_without_internals(tmp_path, data, caplog):
    path = tmp_path / "exploding.joblib"
    joblib.dump(Exploding(), path)
    fallback = Settings(model_path=path, threshold=THRESHOLD, engine="auto")
    async with client_for(fallback, raise_app_exceptions=False) as client:
        meta = (await client.get("/metadata")).json()
        response = await client.post("/predict", json=good_body(data))
    assert meta["engine"] == "sklearn"  # skl2onnx cannot convert it: "auto" falls back
    assert "serving with scikit-learn" in caplog.text
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}


@pytest.mark.anyio
async def test_default_engine_refuses_what_does_not_convert(tmp_path):
    path = tmp_path / "exploding.joblib"
    joblib.dump(Exploding(), path)
    assert Settings().engine == "onnx"
    async with client_for(Settings(model_path=path, threshold=THRESHOLD)) as client:
        response = await client.get("/ready")
    detail = response.json()["detail"]
    assert response.status_code == 503 and "no ONNX engine" in detail
    assert "MLOPS_ENGINE=auto" in detail and "MLOPS_ENGINE=sklearn" in detail


# ------------------------------------------------------------------------ threshold
@pytest.mark.anyio
async def test_a_file_without_a_threshold_is_refused_with_what_to_set(
    pipeline, tmp_path
):
    path = tmp_path / "model.joblib"
    joblib.dump(pipeline, path)
    assert Settings(model_path=path).threshold is None  # no silent 0.5
    async with client_for(Settings(model_path=path)) as client:
        ready = await client.get("/ready")
        meta = await client.get("/metadata")
    detail = ready.json()["detail"]
    assert ready.status_code == 503 and meta.status_code == 503
    assert "model.joblib carries no decision threshold" in detail
    assert "model.joblib.metadata.json" in detail and "MLOPS_THRESHOLD" in detail


@pytest.mark.anyio
async def test_a_file_serves_at_its_own_threshold(pipeline, data, tmp_path, caplog):
    path = tmp_path / "model.joblib"
    joblib.dump(pipeline, path)
    written = serving.save_model_metadata(path, {"decision_threshold": 0.17})
    assert (
        written
        == serving.metadata_path(path)
        == tmp_path / ("model.joblib" + serving.METADATA_SUFFIX)
    )
    row = to_records(data[1].iloc[:1])[0]
    # A setting does not override the model's own threshold (as for the registry).
    for settings in [
        Settings(model_path=path),
        Settings(model_path=path, threshold=0.5),
    ]:
        async with client_for(settings) as client:
            meta = (await client.get("/metadata")).json()
            answer = (await client.post("/predict", json=row)).json()
        assert meta["threshold"] == 0.17 == answer["threshold"]
        assert meta["threshold_source"] == "model metadata (model.joblib.metadata.json)"
    assert "MLOPS_THRESHOLD=0.5 ignored" in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "is not JSON"),
        ('{"decision_threshold": 1.5}', "no decision_threshold between 0 and 1"),
        ('{"decision_threshold": true}', "no decision_threshold between 0 and 1"),
        ("[0.2]", "no decision_threshold between 0 and 1"),
    ],
)
async def test_a_broken_metadata_file_is_refused(pipeline, tmp_path, content, reason):
    path = tmp_path / "model.joblib"
    joblib.dump(pipeline, path)
    serving.metadata_path(path).write_text(content)
    async with client_for(Settings(model_path=path, threshold=0.2)) as client:
        ready = await client.get("/ready")
    assert ready.status_code == 503 and reason in ready.json()["detail"]


# -------------------------------------------------------------------- settings, docs
def test_settings_round_trip_through_the_environment(settings, monkeypatch):
    env = settings.to_env()
    assert env["MLOPS_THRESHOLD"] == str(THRESHOLD) and "MLOPS_ENGINE" not in env
    assert Settings.from_env(env) == settings
    assert Settings.from_env({"MLOPS_MODEL_URI": " ", "OTHER": "x"}) == Settings()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env() == settings
    with pytest.raises(ValidationError, match="threshold"):
        Settings.from_env({"MLOPS_THRESHOLD": "1.5"})
    with pytest.raises(ValidationError, match="engine"):
        Settings(engine="gpu")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_openapi_is_generated_from_the_models(settings):
    async with client_for(settings) as client:
        spec = (await client.get("/openapi.json")).json()
    application = spec["components"]["schemas"]["Application"]
    assert application["properties"]["age"]["minimum"] == 18
    assert application["additionalProperties"] is False
    predict = spec["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Application"}
    assert {"200", "400", "413", "415", "422", "503"} <= set(predict["responses"])
    arrow = spec["paths"]["/predict/batch/arrow"]["post"]["requestBody"]["content"]
    assert set(arrow) == {ARROW_STREAM}


def test_records_turn_missing_values_into_null(data):
    rows = data[1].iloc[:2].copy()
    rows.loc[rows.index[0], "employment_years"] = math.nan
    records = to_records(rows)
    assert records[0]["employment_years"] is None and set(records[0]) == set(FEATURES)
    json.dumps(records, allow_nan=False)  # valid JSON


def test_file_digest_is_the_start_of_the_sha256(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    full = hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert serving.file_digest(path) == full[:12]
    assert serving.file_digest(path, 64) == full


# ----------------------------------------------------------------------------- MLflow


@pytest.mark.slow
@pytest.mark.anyio
# SQLAlchemy 2.1 warns about MLflow's own store code (STACK_FACTS): not ours to fix.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
async def test_registry_model_is_loaded_by_version_with_its_threshold(
    pipeline, data, tmp_path
):
    import mlflow
    from mlflow import MlflowClient

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    try:
        artifacts = (tmp_path / "artifacts").as_uri()
        mlflow.set_experiment(
            experiment_id=mlflow.create_experiment("serving", artifacts)
        )
        champion = log_version(pipeline, data, threshold=0.31)
        # The newest version is another model, logged without a threshold.
        X, y = features_and_target(data[0].iloc[:800])
        other = make_model("logreg", seed=0).fit(X, y)
        bare = log_version(other, data, threshold=None)
        client = MlflowClient()
        client.set_registered_model_alias("credit-default", "champion", champion)
        client.set_registered_model_alias("credit-default", "bare", bare)
    finally:
        mlflow.set_tracking_uri(None)
    assert (champion, bare) == ("1", "2")
    row = data[1].iloc[:1]
    settings = Settings(
        model_uri="models:/credit-default@champion", tracking_uri=tracking
    )
    async with client_for(settings) as api:
        meta = (await api.get("/metadata")).json()
        p = (await api.post("/predict", json=to_records(row)[0])).json()
    assert meta["model_version"] == "1" and meta["threshold"] == 0.31
    assert meta["threshold_source"] == "model metadata" and meta["engine"] == "onnx"
    assert meta["model_source"] == "models:/credit-default/1"
    assert meta["training_data_hash"] == data_fingerprint(data[0])
    assert p["probability_of_default"] == pytest.approx(
        expected(pipeline, row)[0], abs=1e-5
    )
    assert p["threshold"] == 0.31 and p["model_version"] == "1"
    for alias, reason in [("bare", "no decision_threshold"), ("nobody", "nobody")]:
        settings = Settings(
            model_uri=f"models:/credit-default@{alias}", tracking_uri=tracking
        )
        async with client_for(settings) as api:
            response = await api.get("/ready")
        assert response.status_code == 503 and reason in response.json()["detail"]


# ----------------------------------------------------------------------- real server
@pytest.mark.slow
def test_real_uvicorn_process_serves_over_http(settings, pipeline, data, tmp_path):
    rows = data[1].iloc[:5]
    with serve(
        serving.uvicorn_command(),
        env=settings.to_env(),
        health="/ready",
        log_path=tmp_path / "uvicorn.log",
    ) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
            answer = client.post("/predict", json=to_records(rows.iloc[:1])[0]).json()
            bad = client.post("/predict", content=b'{"age": "\xff"}', headers=JSON)
            batch = client.post(
                "/predict/batch/arrow", content=to_arrow_stream(rows), headers=ARROW
            ).json()
        body = json.dumps(to_records(rows.iloc[:1])[0]).encode()
        load = run_load(server.url + "/predict", body, n_requests=50, concurrency=4)
    want = expected(pipeline, rows)
    assert answer["probability_of_default"] == pytest.approx(want[0], abs=1e-5)
    assert bad.status_code == 400
    np.testing.assert_allclose(batch["probability_of_default"], want, atol=1e-5)
    assert load.n_requests == 50 and load.statuses == {200: 50}
    assert "Application startup complete" in server.log()


def test_load_generator_only_targets_loopback():
    with pytest.raises(LoadTestError, match="loopback"):
        run_load("http://192.0.2.1:80/predict", b"{}", n_requests=1)
    with pytest.raises(LoadTestError, match="loopback"):
        run_load("https://127.0.0.1:443/predict", b"{}", n_requests=1)


def test_the_package_re_exports_only_names_used_outside_it():
    """``mlops_course.serving`` re-exports what chapters, tests and tools import."""
    import re

    from tools.nbchecks import ROOT

    globs = ["notebooks/*.md", "tests/*.py", "benchmarks/*.py", "starters/**/*.py"]
    globs += ["src/mlops_course/*.py", "tools/*.py", "book/**/*.md"]
    used: set[str] = set()
    for path in {p for g in globs for p in ROOT.glob(g)}:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bserving\.([A-Za-z_]\w*)", text))
        imports = r"from mlops_course\.serving import (\([^)]*\)|.+)"
        for names in re.findall(imports, text):
            used |= set(re.findall(r"\w+", re.sub(r"#.*", "", names)))
    assert len(serving.__all__) == len(set(serving.__all__))
    assert all(hasattr(serving, name) for name in serving.__all__)
    unused = sorted(set(serving.__all__) - used - {"app_from_env"})  # uvicorn's
    assert not unused, f"re-exported but imported from nowhere: {unused}"
