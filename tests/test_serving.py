"""The model service: routes, validation, failure modes, fast paths, and a real uvicorn run."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest

from mlops_course.data import FEATURES, NEW_PURPOSE, generate_applications, time_split
from mlops_course.loadtest import LoadTestError, run_load
from mlops_course.modeling import features_and_target, make_model
from mlops_course.serialization import to_onnx
from mlops_course.servers import serve
from mlops_course.serving import (
    ARROW_STREAM,
    MAX_BATCH_ROWS,
    MAX_BODY_BYTES,
    Batch,
    LinearEngine,
    OnnxEngine,
    Settings,
    SklearnEngine,
    UnsupportedModel,
    batch_from_arrow,
    create_app,
    to_arrow_stream,
    to_records,
    uvicorn_command,
)
from mlops_course.tracking import data_fingerprint

THRESHOLD = 0.2


@pytest.fixture(scope="module")
def data():
    split = time_split(generate_applications(3_000, seed=3))
    return split.train, split.test


@pytest.fixture(scope="module")
def pipeline(data):
    X, y = features_and_target(data[0])
    return make_model("logreg", seed=0).fit(X, y)


@pytest.fixture(scope="module")
def model_file(pipeline, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(pipeline, path)
    return path


@pytest.fixture(scope="module")
def onnx_file(pipeline, data, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(to_onnx(pipeline, data[0][FEATURES]))
    return path


@pytest.fixture
def settings(model_file, data):
    return Settings(
        model_path=model_file,
        model_version="7",
        training_data_hash=data_fingerprint(data[0]),
        threshold=THRESHOLD,
    )


@pytest.fixture
def anyio_backend():
    return "asyncio"


@contextlib.asynccontextmanager
async def client_for(settings: Settings, *, raise_app_exceptions: bool = True):
    """An in-process client whose app has gone through its lifespan start-up."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=raise_app_exceptions
        )
        async with httpx.AsyncClient(
            transport=transport, base_url="http://service"
        ) as client:
            yield client


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
    assert meta["model_name"] == "credit-default"
    assert meta["model_version"] == "7"
    assert meta["training_data_hash"] == data_fingerprint(data[0])
    assert meta["engine"] == "numpy" and meta["model_source"] == "file:model.joblib"
    assert meta["features"] == FEATURES and meta["max_batch_rows"] == MAX_BATCH_ROWS


@pytest.mark.anyio
async def test_predict_matches_the_pipeline_and_applies_the_threshold(
    settings, pipeline, data
):
    rows = data[1].iloc[:20]
    want = expected(pipeline, rows)
    async with client_for(settings) as client:
        for record, p in zip(to_records(rows), want):
            response = await client.post("/predict", json=record)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["probability_of_default"] == pytest.approx(p, abs=1e-12)
            assert body["decision"] == ("reject" if p >= THRESHOLD else "approve")
            assert body["threshold"] == THRESHOLD and body["model_version"] == "7"
    assert {"approve", "reject"} <= set(
        np.where(want >= THRESHOLD, "reject", "approve")
    )


@pytest.mark.anyio
async def test_batch_json_and_arrow_agree_with_the_pipeline(settings, pipeline, data):
    rows = data[1].iloc[:300].copy()
    rows.loc[rows.index[:10], "employment_years"] = (
        np.nan
    )  # null: imputed like in training
    want = expected(pipeline, rows)
    async with client_for(settings) as client:
        as_json = await client.post(
            "/predict/batch", json={"applications": to_records(rows)}
        )
        as_arrow = await client.post(
            "/predict/batch",
            content=to_arrow_stream(rows),
            headers={"content-type": ARROW_STREAM},
        )
    for response in (as_json, as_arrow):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["n_rows"] == len(rows) and body["model_version"] == "7"
        np.testing.assert_allclose(body["probability_of_default"], want, atol=1e-12)
        assert (
            body["decision"]
            == np.where(want >= THRESHOLD, "reject", "approve").tolist()
        )


# ----------------------------------------------------------------------------- 422s
@pytest.mark.anyio
@pytest.mark.parametrize(
    "change, field, kind",
    [
        ({"age": 12}, "age", "greater_than_equal"),
        ({"annual_income": -5.0}, "annual_income", "greater_than"),
        ({"loan_term_months": 18}, "loan_term_months", "literal_error"),
        ({"loan_purpose": NEW_PURPOSE}, "loan_purpose", "literal_error"),
        ({"region": None}, "region", "literal_error"),
        ({"age": "old"}, "age", "int_parsing"),
        ({"gender": "F"}, "gender", "extra_forbidden"),
        ({"debt_to_income": None}, "debt_to_income", "float_type"),
    ],
)
async def test_bad_input_gets_422_naming_the_field(settings, data, change, field, kind):
    record = {**to_records(data[1].iloc[:1])[0], **change}
    async with client_for(settings) as client:
        response = await client.post("/predict", json=record)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field] and error["type"] == kind


@pytest.mark.anyio
async def test_missing_field_and_broken_json_get_422(settings, data):
    record = to_records(data[1].iloc[:1])[0]
    del record["interest_rate"]
    async with client_for(settings) as client:
        missing = await client.post("/predict", json=record)
        broken = await client.post(
            "/predict",
            content=b'{"age": 40,',
            headers={"content-type": "application/json"},
        )
    assert missing.status_code == 422 and error_fields(missing) == ["interest_rate"]
    assert (
        broken.status_code == 422
        and broken.json()["detail"][0]["type"] == "json_invalid"
    )


@pytest.mark.anyio
async def test_batch_limit_and_batch_errors(settings, data):
    record = to_records(data[1].iloc[:1])[0]
    async with client_for(settings) as client:
        too_many = await client.post(
            "/predict/batch", json={"applications": [record] * (MAX_BATCH_ROWS + 1)}
        )
        empty = await client.post("/predict/batch", json={"applications": []})
        bad_rows = [dict(record, age=5)] * 50
        many_bad = await client.post("/predict/batch", json={"applications": bad_rows})
    assert too_many.status_code == 422
    (error,) = too_many.json()["detail"]
    assert error["type"] == "too_long" and error["loc"] == ["body", "applications"]
    assert f"at most {MAX_BATCH_ROWS} items" in error["msg"]
    assert empty.status_code == 422 and empty.json()["detail"][0]["type"] == "too_short"
    assert many_bad.status_code == 422
    details = many_bad.json()["detail"]
    assert details[0]["loc"] == ["body", "applications", 0, "age"]
    assert len(details) == 21 and details[-1]["msg"] == "30 more errors not shown"


def arrow_error(frame: pd.DataFrame) -> list[dict]:
    with pytest.raises(Exception) as caught:
        batch_from_arrow(to_arrow_stream_any(frame))
    return caught.value.errors()


def to_arrow_stream_any(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_arrow_batches_are_checked_like_json(data):
    rows = data[1].iloc[:40][FEATURES].copy()
    young = rows.assign(age=rows["age"].where(rows.index != rows.index[3], 15))
    (error,) = arrow_error(young)
    assert error["loc"] == ["body", "age"] and error["type"] == "ge"
    assert "1 rows, first at row 3" in error["msg"] and error["input"] == 15
    new = rows.assign(loan_purpose=NEW_PURPOSE)
    assert arrow_error(new)[0]["loc"] == ["body", "loan_purpose"]
    fractional = rows.assign(num_open_accounts=rows["num_open_accounts"] + 0.5)
    assert arrow_error(fractional)[0]["type"] == "int_from_float"
    extra_missing = rows.drop(columns="region").assign(gender="F")
    kinds = {(e["loc"][1], e["type"]) for e in arrow_error(extra_missing)}
    assert kinds == {("gender", "extra_forbidden"), ("region", "missing")}
    nulls = rows.astype({"age": "float"}).assign(age=np.nan)
    assert arrow_error(nulls)[0]["type"] == "missing"
    too_long = pd.concat([rows] * (MAX_BATCH_ROWS // 40 + 1))
    assert arrow_error(too_long)[0]["type"] == "too_long"
    with pytest.raises(Exception) as caught:
        batch_from_arrow(b"not arrow at all")
    assert caught.value.errors()[0]["type"] == "arrow_invalid"


# ----------------------------------------------------------------------------- 503s
@pytest.mark.anyio
@pytest.mark.parametrize(
    "settings_kwargs, reason",
    [
        (
            {"model_path": "nowhere/missing.joblib"},
            "model file not found: missing.joblib",
        ),
        ({}, "no model configured"),
        ({"onnx_path": "nowhere/missing.onnx"}, "ONNX file not found: missing.onnx"),
    ],
)
async def test_no_model_gives_503_with_a_reason(settings_kwargs, reason, data):
    async with client_for(Settings(**settings_kwargs)) as client:
        assert (await client.get("/health")).status_code == 200
        answers = [
            await client.get("/ready"),
            await client.get("/metadata"),
            await client.post("/predict", json=to_records(data[1].iloc[:1])[0]),
        ]
    for response in answers:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert reason in response.json()["detail"]
        assert "Traceback" not in response.text and "nowhere" not in response.text


@pytest.mark.anyio
async def test_a_file_that_is_not_a_model_gives_503(tmp_path):
    bad = tmp_path / "model.joblib"
    joblib.dump({"not": "a model"}, bad)
    async with client_for(Settings(model_path=bad)) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert "UnsupportedModel: dict has no predict_proba" in response.json()["detail"]


class Exploding:
    """A 'model' whose predictions fail: the client must get a 500 without a traceback."""

    def predict_proba(self, frame):
        raise RuntimeError("secret internals /srv/models")


@pytest.mark.anyio
async def test_a_failing_model_gives_500_without_internals(tmp_path, data):
    path = tmp_path / "exploding.joblib"
    joblib.dump(Exploding(), path)
    async with client_for(
        Settings(model_path=path), raise_app_exceptions=False
    ) as client:
        response = await client.post("/predict", json=to_records(data[1].iloc[:1])[0])
    assert response.status_code == 500 and response.json() == {
        "detail": "internal error"
    }


@pytest.mark.anyio
async def test_oversized_bodies_get_413(settings):
    async with client_for(settings) as client:
        response = await client.post(
            "/predict/batch", content=b" " * (MAX_BODY_BYTES + 1)
        )
    assert (
        response.status_code == 413 and "request body over" in response.json()["detail"]
    )


# ----------------------------------------------------------------------------- engines
def test_numpy_engine_matches_predict_proba(pipeline, data):
    rows = data[1][FEATURES].copy()
    rows.loc[rows.index[:25], "employment_years"] = np.nan
    rows.loc[rows.index[25:50], "loan_purpose"] = NEW_PURPOSE  # unknown: weighs 0
    engine = LinearEngine.from_pipeline(pipeline)
    np.testing.assert_allclose(
        engine.predict_proba(Batch.from_frame(rows)),
        expected(pipeline, rows),
        atol=1e-12,
    )


def test_numpy_engine_follows_a_retrained_model(data):
    X, y = features_and_target(data[0])
    other = make_model("logreg", C=0.05).fit(X, y)
    engine = LinearEngine.from_pipeline(other)
    rows = data[1]
    np.testing.assert_allclose(
        engine.predict_proba(Batch.from_frame(rows)), expected(other, rows), atol=1e-12
    )


def test_onnx_engine_matches_predict_proba(pipeline, onnx_file, data):
    rows = data[1][FEATURES].copy()
    rows.loc[rows.index[:25], "employment_years"] = np.nan
    got = OnnxEngine(onnx_file).predict_proba(Batch.from_frame(rows))
    np.testing.assert_allclose(got, expected(pipeline, rows), atol=1e-5)


@pytest.mark.anyio
async def test_other_models_fall_back_to_sklearn(data, tmp_path):
    X, y = features_and_target(data[0])
    trees = make_model("hgb", seed=0, max_iter=20).fit(X, y)
    with pytest.raises(UnsupportedModel, match="LogisticRegression"):
        LinearEngine.from_pipeline(trees)
    path = tmp_path / "hgb.joblib"
    joblib.dump(trees, path)
    rows = data[1].iloc[:50]
    async with client_for(Settings(model_path=path)) as client:
        meta = (await client.get("/metadata")).json()
        body = await client.post(
            "/predict/batch", json={"applications": to_records(rows)}
        )
    assert meta["engine"] == "sklearn" and meta["model_version"].startswith("sha256:")
    np.testing.assert_allclose(
        body.json()["probability_of_default"], expected(trees, rows)
    )
    assert isinstance(SklearnEngine(trees).model, type(trees))


@pytest.mark.anyio
async def test_onnx_service_and_forced_engines(settings, onnx_file, pipeline, data):
    rows = data[1].iloc[:30]
    cases = [({"onnx_path": onnx_file}, "onnx"), ({"engine": "sklearn"}, "sklearn")]
    for changes, engine in cases:
        async with client_for(dataclasses.replace(settings, **changes)) as client:
            meta = (await client.get("/metadata")).json()
            body = await client.post(
                "/predict/batch", json={"applications": to_records(rows)}
            )
        assert meta["engine"] == engine
        np.testing.assert_allclose(
            body.json()["probability_of_default"], expected(pipeline, rows), atol=1e-5
        )


# ----------------------------------------------------------------------------- settings, docs
def test_settings_round_trip_through_the_environment(settings):
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings.from_env({}) == Settings()
    with pytest.raises(ValueError, match="threshold"):
        Settings(threshold=1.5)
    with pytest.raises(ValueError, match="engine"):
        Settings(engine="gpu")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_openapi_documents_the_request_bodies(settings):
    async with client_for(settings) as client:
        spec = (await client.get("/openapi.json")).json()
    application = spec["components"]["schemas"]["Application"]
    assert application["properties"]["age"]["minimum"] == 18
    assert application["additionalProperties"] is False
    body = spec["paths"]["/predict/batch"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", ARROW_STREAM}


def test_records_turn_missing_values_into_null(data):
    rows = data[1].iloc[:2].copy()
    rows.loc[rows.index[0], "employment_years"] = math.nan
    records = to_records(rows)
    assert records[0]["employment_years"] is None and set(records[0]) == set(FEATURES)
    json.dumps(records, allow_nan=False)  # valid JSON


# ----------------------------------------------------------------------------- MLflow
@pytest.mark.anyio
# SQLAlchemy 2.1 warns about MLflow's own store code (STACK_FACTS): not ours to fix.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
async def test_loads_a_registered_model_by_alias(pipeline, data, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    try:
        # Artifacts in tmp_path too (the default is ./mlruns in the working directory).
        artifacts = (tmp_path / "artifacts").as_uri()
        mlflow.set_experiment(
            experiment_id=mlflow.create_experiment("serving", artifacts)
        )
        with mlflow.start_run():
            mlflow.log_param("training_data_hash", data_fingerprint(data[0]))
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                registered_model_name="credit-default",
                # skops (MLflow's default format) refuses the encoder's dtype unless trusted
                skops_trusted_types=["numpy.dtype"],
            )
        client = MlflowClient()
        version = info.registered_model_version
        client.set_registered_model_alias("credit-default", "champion", version)
    finally:
        mlflow.set_tracking_uri(None)
    good = Settings(model_uri="models:/credit-default@champion", tracking_uri=tracking)
    async with client_for(good) as api:
        meta = (await api.get("/metadata")).json()
        p = (await api.post("/predict", json=to_records(data[1].iloc[:1])[0])).json()
    assert meta["model_version"] == "1" and meta["engine"] == "numpy"
    assert meta["training_data_hash"] == data_fingerprint(data[0])
    assert p["probability_of_default"] == pytest.approx(
        expected(pipeline, data[1].iloc[:1])[0]
    )
    unknown = Settings(model_uri="models:/credit-default@nobody", tracking_uri=tracking)
    async with client_for(unknown) as api:
        response = await api.get("/ready")
    assert response.status_code == 503 and "nobody" in response.json()["detail"]


# ----------------------------------------------------------------------------- real server
def test_real_uvicorn_process_serves_over_http(settings, pipeline, data, tmp_path):
    rows = data[1].iloc[:5]
    with serve(
        uvicorn_command(),
        env=settings.to_env(),
        health="/ready",
        log_path=tmp_path / "uvicorn.log",
    ) as server:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
            assert client.get("/health").json() == {"status": "ok"}
            answer = client.post("/predict", json=to_records(rows.iloc[:1])[0]).json()
            bad = client.post("/predict", json={"age": 200})
            batch = client.post(
                "/predict/batch",
                content=to_arrow_stream(rows),
                headers={"content-type": ARROW_STREAM},
            ).json()
        body = json.dumps(to_records(rows.iloc[:1])[0]).encode()
        load = run_load(server.url + "/predict", body, n_requests=50, concurrency=4)
    assert answer["probability_of_default"] == pytest.approx(
        expected(pipeline, rows)[0]
    )
    assert bad.status_code == 422 and "age" in error_fields(bad)
    np.testing.assert_allclose(
        batch["probability_of_default"], expected(pipeline, rows)
    )
    assert load.n_requests == 50 and load.statuses == {200: 50}
    assert load.percentile_ms(50) > 0 and load.throughput > 0
    assert "Application startup complete" in server.log()


def test_load_generator_only_targets_loopback():
    with pytest.raises(LoadTestError, match="loopback"):
        run_load("http://192.0.2.1:80/predict", b"{}", n_requests=1)
    with pytest.raises(LoadTestError, match="loopback"):
        run_load("https://127.0.0.1:443/predict", b"{}", n_requests=1)
