"""Several named models in one process, micro-batched or not (chapter 15)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import numpy as np
import pytest

from mlops_course import serving
from mlops_course.loadtest import run_load
from mlops_course.servers import serve
from mlops_course.serving import Application, Settings, multi_model, to_records
from mlops_course.serving.batching import BatchSettings

JSON = {"content-type": "application/json"}


@contextlib.asynccontextmanager
async def client_for(models, batch=None):
    app = multi_model.create_multi_model_app(models, batch)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://service"
        ) as client:
            yield client


@pytest.fixture
def two_models(two_onnx_files):
    return {
        "small": Settings(onnx_path=two_onnx_files["small"], model_version="1"),
        "large": Settings(onnx_path=two_onnx_files["large"], model_version="2"),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("enabled", [True, False])
async def test_app_serves_each_model_by_name(
    two_models, two_engines, two_model_split, enabled
):
    records = to_records(two_model_split.test.iloc[:16])
    # A batch closes when its second row arrives (an event); the 1 s wait only
    # bounds how long a row may wait alone, so the test does not depend on speed.
    batch = BatchSettings(enabled=enabled, max_batch_size=2, max_wait_ms=1_000)
    async with client_for(two_models, batch) as client:
        assert (await client.get("/ready")).status_code == 200
        listed = (await client.get("/models")).json()
        assert [m["name"] for m in listed] == ["small", "large"]
        assert listed[1]["metadata"]["model_version"] == "2"
        answers = await asyncio.gather(
            *(
                client.post(f"/models/{name}/predict", json=record)
                for record in records
                for name in ("small", "large")
            )
        )
        default_answer = await client.post("/predict", json=records[0])
        default = default_answer.json()
        stats = (await client.get("/batching")).json()
    assert all(a.status_code == 200 for a in answers)
    named = [(a.headers["X-Model-Name"], a.headers["X-Model-Version"]) for a in answers]
    # each route name serves its model; the headers name the model (its registered
    # name, here the settings' default) and its version
    assert named[:2] == [("credit-default", "1"), ("credit-default", "2")]
    assert default_answer.headers["X-Model-Version"] == "1"  # the first model
    got = np.array([a.json()["probability_of_default"] for a in answers])
    for k, name in enumerate(("small", "large")):
        want = two_engines[name].predict_proba(
            serving.columns_of([Application.model_validate(r) for r in records])
        )
        assert np.allclose(got[k::2], want, atol=1e-6)
    assert answers[1].json()["model_version"] == "2"
    assert default["probability_of_default"] == pytest.approx(got[0], abs=1e-9)
    if enabled:
        assert stats["stats"]["rows"] == 33
        assert stats["stats"]["batches"] < 33  # rows did share engine calls
        assert max(int(k) for k in stats["stats"]["sizes"]) == 2
    else:
        assert stats["enabled"] is False and stats["stats"] == {}


@pytest.mark.anyio
async def test_app_refuses_bad_rows_and_unknown_models_before_batching(
    two_models, two_model_split
):
    record = to_records(two_model_split.test.iloc[:1])[0]
    async with client_for(two_models) as client:
        bad = await client.post("/models/small/predict", json={**record, "age": 12})
        unknown = await client.post("/models/nope/predict", json=record)
        text = await client.post("/models/small/predict", content=b"x")
        good = await client.post("/models/small/predict", json=record)
        stats = (await client.get("/batching")).json()["stats"]
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "age"]
    assert unknown.status_code == 404 and "small, large" not in unknown.text
    assert "large, small" in unknown.json()["detail"]
    assert text.status_code == 415
    assert good.status_code == 200
    assert stats["rows"] == 1  # only the good row reached the batcher


@pytest.mark.anyio
async def test_a_model_that_fails_to_load_is_a_503_for_it_alone(
    two_models, tmp_path, two_model_split
):
    record = to_records(two_model_split.test.iloc[:1])[0]
    models = {**two_models, "gone": Settings(onnx_path=tmp_path / "gone.onnx")}
    async with client_for(models) as client:
        ready = await client.get("/ready")
        gone = await client.post("/models/gone/predict", json=record)
        small = await client.post("/models/small/predict", json=record)
    assert ready.status_code == 503 and "gone" in ready.json()["detail"]
    assert gone.status_code == 503 and "not found" in gone.json()["detail"]
    assert small.status_code == 200


def test_phase1_app_is_unchanged_by_the_batching_module(two_models):
    paths = set(serving.create_app(two_models["small"]).openapi()["paths"])
    assert "/models/{name}/predict" not in paths and "/predict" in paths
    assert (
        "/models/{name}/predict"
        in multi_model.create_multi_model_app(two_models).openapi()["paths"]
    )


def test_settings_round_trip_through_the_environment(two_models):
    env = {**multi_model.models_env(two_models)}
    env.update(
        BatchSettings(max_batch_size=16, max_wait_ms=0.5, adaptive=True).to_env()
    )
    models = multi_model.models_from_env(env)
    assert list(models) == ["small", "large"]
    assert models["large"].onnx_path == two_models["large"].onnx_path
    assert models["large"].model_name == "large"
    batch = BatchSettings.from_env(env)
    assert (batch.max_batch_size, batch.max_wait_ms, batch.enabled) == (16, 0.5, True)
    assert batch.adaptive is True
    with pytest.raises(ValueError, match="must be a JSON object of name -> settings"):
        multi_model.models_from_env({multi_model.MODELS_ENV: "[]"})
    one = multi_model.models_from_env(Settings(onnx_path="m.onnx").to_env())
    assert list(one) == ["credit-default"]


@pytest.mark.slow
def test_uvicorn_process_batches_concurrent_requests(
    two_models, two_model_split, tmp_path
):
    # Batches of 2 close when the second row arrives; with 16 requests in flight
    # one always does, long before the 1 s bound (events, not the machine's speed).
    env = {
        **multi_model.models_env(two_models),
        **BatchSettings(max_batch_size=2, max_wait_ms=1_000).to_env(),
    }
    command = serving.uvicorn_command(
        "--log-level",
        "warning",
        factory=multi_model.UVICORN_FACTORY,
        access_log=False,
    )
    body = json.dumps(to_records(two_model_split.test.iloc[:1])[0]).encode()
    with serve(command, env=env, health="/ready", log_path=tmp_path / "s.log") as s:
        result = run_load(
            s.url + "/models/large/predict",
            body,
            concurrency=16,
            n_requests=64,
            time_limit=60,
        )
        stats = httpx.get(s.url + "/batching", trust_env=False).json()["stats"]
    assert result.n_errors == 0 and result.n_requests == 64
    assert stats["rows"] == 64
    assert stats["mean_batch_size"] > 1.5


@pytest.mark.anyio
async def test_columnar_batch_route_matches_row_by_row(
    two_models, two_engines, two_model_split
):
    records = to_records(two_model_split.test.iloc[:50])
    columns = {name: [r[name] for r in records] for name in records[0]}
    async with client_for(two_models) as client:
        got = await client.post("/models/large/predict/columns", json=columns)
        one = await client.post("/models/large/predict", json=records[7])
        stats = (await client.get("/batching")).json()["stats"]
    assert got.status_code == 200
    body = got.json()
    assert body["n_rows"] == 50 and body["model_version"] == "2"
    want = two_engines["large"].predict_proba(
        serving.columns_of([Application.model_validate(r) for r in records])
    )
    assert np.allclose(body["probability_of_default"], want, atol=1e-6)
    assert body["probability_of_default"][7] == pytest.approx(
        one.json()["probability_of_default"], abs=1e-6
    )
    assert stats["rows"] == 1  # the columnar batch is one call, not the batcher's


@pytest.mark.anyio
async def test_columnar_batch_route_refuses_bad_columns_with_422(
    two_models, two_model_split
):
    records = to_records(two_model_split.test.iloc[:5])
    columns = {name: [r[name] for r in records] for name in records[0]}
    url = "/models/small/predict/columns"
    async with client_for(two_models) as client:
        short = await client.post(url, json={**columns, "age": columns["age"][:4]})
        young = await client.post(url, json={**columns, "age": [12, 30, 30, 30, 30]})
        text = await client.post(url, json={**columns, "age": ["30"] * 5})
        missing = await client.post(
            url, json={k: v for k, v in columns.items() if k != "region"}
        )
        extra = await client.post(url, json={**columns, "colour": [1] * 5})
        empty = await client.post(url, json={k: [] for k in columns})
        whole = await client.post(url, json={**columns, "age": [30.0] * 5})
        unknown = await client.post("/models/nope/predict/columns", json=columns)
    assert short.status_code == 422
    assert short.json()["detail"][0]["msg"] == (
        "every column needs the same length (5 rows); got age=4"
    )
    assert young.status_code == 422
    assert young.json()["detail"][0]["loc"] == ["body", "age", 0]
    assert text.status_code == 422 and text.json()["detail"][0]["loc"][:2] == [
        "body",
        "age",
    ]
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "region"]
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["loc"] == ["body", "colour"]
    assert empty.status_code == 422
    assert whole.status_code == 200  # 30.0 is the whole number 30, as for rows
    assert unknown.status_code == 404
