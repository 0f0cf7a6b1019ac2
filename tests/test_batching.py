"""Micro-batching and several models in one process (serving.batching, chapter 15)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading

import httpx
import numpy as np
import pytest

from mlops_course import serving
from mlops_course.data import generate_applications, time_split
from mlops_course.loadtest import run_load
from mlops_course.modeling import features_and_target, make_model, wide_mlp
from mlops_course.serialization import as_model_input, to_onnx
from mlops_course.servers import serve
from mlops_course.serving import Application, Settings, batching, to_records

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def split():
    return time_split(generate_applications(3_000, seed=5))


@pytest.fixture(scope="module")
def pipelines(split):
    X, y = features_and_target(split.train)
    return {
        "small": make_model("logreg", seed=0, C=0.01).fit(X, y),
        "large": make_model("logreg", seed=0, C=10.0).fit(X, y),
    }


@pytest.fixture(scope="module")
def onnx_files(pipelines, split, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    X, _ = features_and_target(split.train)
    paths = {}
    for name, pipeline in pipelines.items():
        paths[name] = folder / f"{name}.onnx"
        paths[name].write_bytes(to_onnx(pipeline, X))
        serving.save_model_metadata(paths[name], {"decision_threshold": 0.2})
    return paths


@pytest.fixture(scope="module")
def engines(onnx_files):
    return {n: serving.OnnxEngine(p.read_bytes()) for n, p in onnx_files.items()}


@pytest.fixture(scope="module")
def rows(split):
    records = to_records(split.test.iloc[:40])
    return [Application.model_validate(r) for r in records]


class Counting:
    """A real engine that records the size of every call, and may refuse a row."""

    def __init__(self, engine, refuse_age: int | None = None):
        self.engine, self.name, self.calls = engine, engine.name, []
        self.refuse_age = refuse_age

    def predict_proba(self, columns):
        self.calls.append(len(columns["age"]))
        if self.refuse_age is not None and self.refuse_age in columns["age"]:
            raise ValueError(f"age {self.refuse_age} refused")
        return self.engine.predict_proba(columns)


def alone(engine, application) -> float:
    return float(engine.predict_proba(serving.columns_of([application]))[0])


@pytest.mark.anyio
@pytest.mark.parametrize("offload", [False, True])
async def test_concurrent_rows_share_one_engine_call_and_get_their_own_answer(
    engines, rows, offload
):
    counting = Counting(engines["small"])
    batcher = batching.MicroBatcher(
        {"small": counting}, max_batch_size=8, max_wait_ms=200, offload=offload
    )
    batcher.start()
    try:
        got = await asyncio.gather(*(batcher.submit("small", r) for r in rows[:20]))
    finally:
        await batcher.close()
    assert counting.calls == [8, 8, 4]
    want = [alone(engines["small"], r) for r in rows[:20]]
    assert np.allclose(got, want, atol=1e-6)
    assert batcher.stats.as_dict()["sizes"] == {"4": 1, "8": 2}


@pytest.mark.anyio
async def test_no_wait_means_a_lone_row_is_scored_at_once(engines, rows):
    counting = Counting(engines["small"])
    batcher = batching.MicroBatcher({"small": counting}, max_wait_ms=0)
    batcher.start()
    try:
        for row in rows[:3]:
            await batcher.submit("small", row)
    finally:
        await batcher.close()
    assert counting.calls == [1, 1, 1]


class Gated:
    """A real engine whose first call waits until the test opens the gate."""

    def __init__(self, engine):
        self.engine, self.name, self.calls = engine, engine.name, []
        self.gate = threading.Event()

    def predict_proba(self, columns):
        if not self.calls:
            self.gate.wait(timeout=60)
        self.calls.append(len(columns["age"]))
        return self.engine.predict_proba(columns)


@pytest.mark.anyio
async def test_adaptive_wait_scores_a_lone_row_at_once(engines, rows):
    # A wait of one hour: had the batcher waited, the call would never come.
    counting = Counting(engines["small"])
    batcher = batching.MicroBatcher(
        {"small": counting}, max_wait_ms=3_600_000, adaptive=True
    )
    batcher.start()
    try:
        for row in rows[:3]:
            got = await asyncio.wait_for(batcher.submit("small", row), timeout=60)
            assert got == pytest.approx(alone(engines["small"], row), abs=1e-6)
    finally:
        await batcher.close()
    assert counting.calls == [1, 1, 1]


@pytest.mark.anyio
async def test_adaptive_wait_batches_rows_that_queue_under_load(engines, rows):
    # The first call is held until 9 rows wait behind it (an event, not a time):
    # those rows found the queue busy, so they form one batch of at most 8.
    gated = Gated(engines["small"])
    batcher = batching.MicroBatcher(
        {"small": gated},
        max_batch_size=8,
        max_wait_ms=3_600_000,
        adaptive=True,
        offload=True,
    )
    batcher.start()
    try:
        first = asyncio.ensure_future(batcher.submit("small", rows[0]))
        while batcher.stats.batches == 0:  # the lone first row is being scored
            await asyncio.sleep(0)
        rest = [asyncio.ensure_future(batcher.submit("small", r)) for r in rows[1:10]]
        await asyncio.sleep(0)
        gated.gate.set()
        got = await asyncio.wait_for(asyncio.gather(first, *rest), timeout=60)
    finally:
        await batcher.close()
    assert gated.calls == [1, 8, 1]  # lone row; a full batch; the one left alone
    want = [alone(engines["small"], r) for r in rows[:10]]
    assert np.allclose(got, want, atol=1e-6)


@pytest.mark.anyio
async def test_models_share_the_batcher_one_call_per_model(engines, rows):
    small, large = Counting(engines["small"]), Counting(engines["large"])
    batcher = batching.MicroBatcher(
        {"small": small, "large": large}, max_batch_size=64, max_wait_ms=200
    )
    batcher.start()
    try:
        names = ["small", "large"] * 10
        got = await asyncio.gather(
            *(batcher.submit(n, r) for n, r in zip(names, rows, strict=False))
        )
    finally:
        await batcher.close()
    assert batcher.stats.batches == 1
    assert small.calls == [10] and large.calls == [10]
    want = [alone(engines[n], r) for n, r in zip(names, rows, strict=False)]
    assert np.allclose(got, want, atol=1e-6)
    assert not np.allclose(got[0::2], got[1::2], atol=1e-3)  # two different models


@pytest.mark.anyio
@pytest.mark.parametrize("offload", [False, True])
async def test_a_failing_row_does_not_fail_the_rest_of_its_batch(
    engines, rows, offload
):
    bad_age = 99  # a valid age no other row has: the engine refuses it
    batch = [*rows[:3], rows[3].model_copy(update={"age": bad_age}), *rows[4:12]]
    assert [r.age == bad_age for r in batch].count(True) == 1
    counting = Counting(engines["small"], refuse_age=bad_age)
    batcher = batching.MicroBatcher(
        {"small": counting}, max_batch_size=12, max_wait_ms=200, offload=offload
    )
    batcher.start()
    try:
        results = await asyncio.gather(
            *(batcher.submit("small", r) for r in batch), return_exceptions=True
        )
    finally:
        await batcher.close()
    errors = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert errors == [3]
    assert "refused" in str(results[3])
    good = [alone(engines["small"], r) for i, r in enumerate(batch) if i != 3]
    assert np.allclose([r for i, r in enumerate(results) if i != 3], good, atol=1e-6)
    assert batcher.stats.failed_batches == 1
    assert counting.calls == [12] + [1] * 12


@pytest.mark.anyio
async def test_close_answers_queued_rows_then_refuses_new_ones(engines, rows):
    batcher = batching.MicroBatcher(
        {"small": engines["small"]}, max_batch_size=4, max_wait_ms=50
    )
    batcher.start()
    pending = [asyncio.ensure_future(batcher.submit("small", r)) for r in rows[:10]]
    await asyncio.sleep(0)  # the rows are queued, the first batch is waiting
    await batcher.close()
    assert all(task.done() and task.exception() is None for task in pending)
    assert batcher.stats.rows == 10 and not batcher.running
    with pytest.raises(batching.BatcherClosed, match="shutting down"):
        await batcher.submit("small", rows[0])


@pytest.mark.anyio
async def test_unknown_model_and_bad_settings_are_refused(engines, rows):
    with pytest.raises(ValueError, match="max_batch_size must be >= 1, not 0"):
        batching.MicroBatcher({"small": engines["small"]}, max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms must be >= 0, not -1"):
        batching.MicroBatcher({"small": engines["small"]}, max_wait_ms=-1)
    batcher = batching.MicroBatcher({"small": engines["small"]})
    batcher.start()
    try:
        with pytest.raises(KeyError, match="no model named 'nope'"):
            await batcher.submit("nope", rows[0])
    finally:
        await batcher.close()


@contextlib.asynccontextmanager
async def client_for(models, batch=None):
    app = batching.create_app(models, batch)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://service"
        ) as client:
            yield client


@pytest.fixture
def two_models(onnx_files):
    return {
        "small": Settings(onnx_path=onnx_files["small"], model_version="1"),
        "large": Settings(onnx_path=onnx_files["large"], model_version="2"),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("enabled", [True, False])
async def test_app_serves_each_model_by_name(two_models, engines, split, enabled):
    records = to_records(split.test.iloc[:16])
    # A batch closes when its second row arrives (an event); the 1 s wait only
    # bounds how long a row may wait alone, so the test does not depend on speed.
    batch = batching.BatchSettings(enabled=enabled, max_batch_size=2, max_wait_ms=1_000)
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
        default = (await client.post("/predict", json=records[0])).json()
        stats = (await client.get("/batching")).json()
    assert all(a.status_code == 200 for a in answers)
    got = np.array([a.json()["probability_of_default"] for a in answers])
    for k, name in enumerate(("small", "large")):
        want = engines[name].predict_proba(
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
    two_models, split
):
    record = to_records(split.test.iloc[:1])[0]
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
    two_models, tmp_path, split
):
    record = to_records(split.test.iloc[:1])[0]
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
        "/models/{name}/predict" in batching.create_app(two_models).openapi()["paths"]
    )


def test_settings_round_trip_through_the_environment(two_models):
    env = {**batching.models_env(two_models)}
    env.update(
        batching.BatchSettings(
            max_batch_size=16, max_wait_ms=0.5, adaptive=True
        ).to_env()
    )
    models = batching.models_from_env(env)
    assert list(models) == ["small", "large"]
    assert models["large"].onnx_path == two_models["large"].onnx_path
    assert models["large"].model_name == "large"
    batch = batching.BatchSettings.from_env(env)
    assert (batch.max_batch_size, batch.max_wait_ms, batch.enabled) == (16, 0.5, True)
    assert batch.adaptive is True
    with pytest.raises(ValueError, match="must be a JSON object of name -> settings"):
        batching.models_from_env({batching.MODELS_ENV: "[]"})
    one = batching.models_from_env(Settings(onnx_path="m.onnx").to_env())
    assert list(one) == ["credit-default"]


@pytest.mark.slow
def test_uvicorn_process_batches_concurrent_requests(two_models, split, tmp_path):
    # Batches of 2 close when the second row arrives; with 16 requests in flight
    # one always does, long before the 1 s bound (events, not the machine's speed).
    env = {
        **batching.models_env(two_models),
        **batching.BatchSettings(max_batch_size=2, max_wait_ms=1_000).to_env(),
    }
    command = batching.uvicorn_command("--log-level", "warning", access_log=False)
    body = json.dumps(to_records(split.test.iloc[:1])[0]).encode()
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
async def test_columnar_batch_route_matches_row_by_row(two_models, engines, split):
    records = to_records(split.test.iloc[:50])
    columns = {name: [r[name] for r in records] for name in records[0]}
    async with client_for(two_models) as client:
        got = await client.post("/models/large/predict/columns", json=columns)
        one = await client.post("/models/large/predict", json=records[7])
        stats = (await client.get("/batching")).json()["stats"]
    assert got.status_code == 200
    body = got.json()
    assert body["n_rows"] == 50 and body["model_version"] == "2"
    want = engines["large"].predict_proba(
        serving.columns_of([Application.model_validate(r) for r in records])
    )
    assert np.allclose(body["probability_of_default"], want, atol=1e-6)
    assert body["probability_of_default"][7] == pytest.approx(
        one.json()["probability_of_default"], abs=1e-6
    )
    assert stats["rows"] == 1  # the columnar batch is one call, not the batcher's


@pytest.mark.anyio
async def test_columnar_batch_route_refuses_bad_columns_with_422(two_models, split):
    records = to_records(split.test.iloc[:5])
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


def test_wide_mlp_trains_in_float32_and_converts_with_parity(split):
    X, y = features_and_target(split.train)
    test, _ = features_and_target(split.test)
    mlp = wide_mlp(X, y, (32, 16), seed=1, max_rows=500)
    weights = mlp.named_steps["model"].coefs_
    assert [w.shape[1] for w in weights] == [32, 16, 1]
    assert all(w.dtype == np.float32 for w in weights)
    engine = serving.OnnxEngine.from_pipeline(mlp, test[:100])  # parity-checked
    proba = engine.predict_proba(as_model_input(test[:5]))
    assert np.allclose(proba, mlp.predict_proba(test[:5])[:, 1], atol=1e-5)
