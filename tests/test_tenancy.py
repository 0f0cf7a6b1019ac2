"""The multi-tenant model service (``serving.tenancy``, chapter 16)."""

from __future__ import annotations

import contextlib
import importlib
import json

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlops_course.data import generate_applications
from mlops_course.modeling import features_and_target, make_model
from mlops_course.serialization import as_model_input, to_onnx
from mlops_course.serving import OnnxEngine, to_records
from mlops_course.serving.launch import uvicorn_command
from mlops_course.serving.quotas import Quota
from mlops_course.serving.tenancy import (
    UVICORN_FACTORY,
    TenancySettings,
    app_from_env,
    create_app,
)
from mlops_course.serving.tenant_catalogue import Catalogue


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def frame():
    return generate_applications(1_200, seed=3)


@pytest.fixture(scope="module")
def onnx_models(frame):
    X, y = features_and_target(frame)
    return {c: to_onnx(make_model("logreg", C=c).fit(X, y), X) for c in (1.0, 0.01)}


@pytest.fixture
def catalogue(tmp_path, onnx_models):
    cat = Catalogue(tmp_path / "catalogue")
    strong, weak = onnx_models[1.0], onnx_models[0.01]
    meta = {"decision_threshold": 0.3}
    cat.publish("cards", "credit-default", 1, strong, meta)
    cat.publish("cards", "credit-default", 2, weak, meta, {"champion": 1})
    cat.set_aliases("cards", "credit-default", {"champion": 1, "challenger": 2})
    cat.publish("loans", "credit-default", 1, weak, meta, {"champion": 1})
    return cat


@contextlib.asynccontextmanager
async def client(settings):
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://p") as http:
        yield http


@pytest.fixture(scope="module")
def record(frame):
    return to_records(frame.iloc[:1])[0]


def test_settings_travel_through_the_environment(tmp_path):
    settings = TenancySettings(
        tmp_path, budget_mb=12.5, quotas={"cards": Quota(rate=50, burst=5)}
    )
    assert TenancySettings.from_env(settings.to_env()) == settings


def test_the_uvicorn_factory_names_this_services_builder():
    module, name = UVICORN_FACTORY.split(":")
    assert getattr(importlib.import_module(module), name) is app_from_env
    argv = uvicorn_command("--log-level", "warning", factory=UVICORN_FACTORY)
    assert argv[3:5] == [UVICORN_FACTORY, "--factory"]
    assert argv[-2:] == ["--log-level", "warning"]


# ------------------------------------------------------------------ the service
@pytest.mark.anyio
async def test_each_tenant_gets_its_own_models_version(catalogue, record, frame):
    async with client(TenancySettings(catalogue.root)) as http:
        cards = await http.post("/v1/cards/credit-default/predict", json=record)
        loans = await http.post("/v1/loans/credit-default/predict", json=record)
        challenger = await http.post(
            "/v1/cards/credit-default/predict?alias=challenger", json=record
        )
        listing = await http.get("/v1/cards/models")
    assert cards.status_code == loans.status_code == challenger.status_code == 200
    assert (cards.json()["version"], challenger.json()["version"]) == (1, 2)
    assert [
        (a.headers["X-Model-Name"], a.headers["X-Model-Version"])
        for a in (cards, loans, challenger)
    ] == [
        ("cards/credit-default", "1"),
        ("loans/credit-default", "1"),
        ("cards/credit-default", "2"),
    ]
    model_input = as_model_input(frame.iloc[:1])
    for answer, version in [(cards, 1), (loans, 1), (challenger, 2)]:
        path = catalogue.root / answer.json()["tenant"] / "credit-default"
        engine = OnnxEngine((path / str(version) / "model.onnx").read_bytes())
        expected = engine.predict_proba(model_input)[0]
        assert np.isclose(answer.json()["probability_of_default"], expected)
    assert listing.json() == {"credit-default": {"champion": 1, "challenger": 2}}


@pytest.mark.anyio
async def test_moving_an_alias_serves_the_new_version_at_once(catalogue, record):
    async with client(TenancySettings(catalogue.root)) as http:
        before = await http.post("/v1/cards/credit-default/predict", json=record)
        catalogue.set_aliases("cards", "credit-default", {"champion": 2})
        after = await http.post("/v1/cards/credit-default/predict", json=record)
    assert (before.json()["version"], after.json()["version"]) == (1, 2)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/v1/nobody/credit-default/predict", "unknown tenant 'nobody'"),
        ("/v1/cards/fraud/predict", "tenant 'cards' has no model 'fraud'"),
        ("/v1/cards/credit-default/predict?alias=gold", "no alias 'gold'"),
        ("/v1/..%2Floans/credit-default/predict", "no route /v1/../loans/"),
        ("/v1/cards/predict", "no route /v1/cards/predict"),
        ("/v1/CARDS/credit-default/predict", "unknown tenant 'CARDS'"),
    ],
)
async def test_bad_tenant_model_or_alias_is_a_404_naming_it(
    catalogue, record, path, named
):
    async with client(TenancySettings(catalogue.root)) as http:
        answer = await http.post(path, json=record)
    assert answer.status_code == 404, answer.text
    assert named in answer.json()["detail"]
    assert "loans" not in answer.json()["detail"].replace("../loans", "")


@pytest.mark.anyio
async def test_a_bad_body_is_a_422_naming_the_field(catalogue, record):
    async with client(TenancySettings(catalogue.root)) as http:
        answer = await http.post(
            "/v1/cards/credit-default/predict", json={**record, "age": 12}
        )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == "age"


@pytest.mark.anyio
async def test_a_tenant_over_its_quota_gets_429_with_retry_after(catalogue, record):
    settings = TenancySettings(
        catalogue.root, quotas={"cards": Quota(rate=0.5, burst=2)}
    )
    async with client(settings) as http:
        codes, last = [], None
        for _ in range(4):
            last = await http.post("/v1/cards/credit-default/predict", json=record)
            codes.append(last.status_code)
        other = [
            (await http.post("/v1/loans/credit-default/predict", json=record))
            for _ in range(4)
        ]
        metrics = (await http.get("/metrics")).text
    assert codes == [200, 200, 429, 429]
    assert int(last.headers["Retry-After"]) >= 1
    assert "over its quota" in last.json()["detail"]
    assert [a.status_code for a in other] == [200] * 4  # the neighbour is unaffected
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    key = ("tenant_requests_total", "credit-default", "cards")
    assert found[(key[0], (("model", key[1]), ("status", "429"), ("tenant", key[2])))]
    assert found[("tenant_throttled_total", (("tenant", "cards"),))] == 2
    loans_ok = (("model", "credit-default"), ("status", "200"), ("tenant", "loans"))
    assert found[("tenant_requests_total", loans_ok)] == 4


@pytest.mark.anyio
async def test_unknown_names_share_one_metric_label(catalogue, record):
    async with client(TenancySettings(catalogue.root)) as http:
        for i in range(5):
            await http.post(f"/v1/scan{i}/x{i}/predict", json=record)
        metrics = (await http.get("/metrics")).text
    tenants = {
        s.labels["tenant"]
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "tenant_requests_total"
    }
    assert tenants == {"unknown"}


@pytest.mark.anyio
async def test_the_service_cache_evicts_within_its_budget(catalogue, record):
    size = (catalogue.root / "cards/credit-default/1/model.onnx").stat().st_size
    budget_mb = 1.5 * size / 2**20  # one model fits, not two
    async with client(TenancySettings(catalogue.root, budget_mb=budget_mb)) as http:
        await http.post("/v1/cards/credit-default/predict", json=record)
        await http.post("/v1/loans/credit-default/predict", json=record)
        state = (await http.get("/cache")).json()
    assert state["models"] == [["loans", "credit-default", 1]]
    assert state["evicted"] == [["cards", "credit-default", 1]]
    assert state["used_bytes"] <= state["budget_bytes"]


def test_quota_json_in_the_environment_is_read(tmp_path):
    env = TenancySettings(tmp_path, quotas={"a": Quota(2.0, 3)}).to_env()
    assert json.loads(env["MLOPS_TENANCY_QUOTAS"]) == {"a": {"rate": 2.0, "burst": 3}}


@pytest.mark.anyio
async def test_a_refusal_comes_before_the_body_is_parsed(catalogue, record):
    settings = TenancySettings(catalogue.root, quotas={"cards": Quota(0.1, 1)})
    async with client(settings) as http:
        first = await http.post("/v1/cards/credit-default/predict", json=record)
        garbage = await http.post(
            "/v1/cards/credit-default/predict", content=b"not json at all"
        )
        unknown = await http.post("/v1/nobody/credit-default/predict", json=record)
    assert first.status_code == 200
    assert garbage.status_code == 429  # refused before the body is read
    assert unknown.status_code == 404  # unknown tenants are not rate-limited: 404
