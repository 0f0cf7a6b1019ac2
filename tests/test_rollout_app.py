"""The rollout service: A/B split, shadow copies, canary, a challenger that fails."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from pydantic import ValidationError

from mlops_course.data import FEATURES
from mlops_course.modeling import features_and_target, make_model
from mlops_course.serving import LoadedModel, Settings, SklearnEngine, to_records
from mlops_course.serving import rollout_app as ro
from mlops_course.serving.assignment import assign
from mlops_course.serving.canary import CanaryPlan

THRESHOLD = 0.2


@pytest.fixture(scope="module")
def frame(trained_logreg):
    return trained_logreg(1_500, seed=5, split=False).train


@pytest.fixture(scope="module")
def pipeline(trained_logreg):
    return trained_logreg(1_500, seed=5, split=False).pipeline


#: Timeouts for the tests whose subject is not a timeout: on a loaded machine a
#: challenger call can take longer than the 0.25 s default, and then the primary
#: answers instead, which would fail an assertion about routing, not time.
PATIENT = {"challenger_timeout": 60.0, "shadow_timeout": 60.0}


def loaded(engine, version: str, threshold: float = THRESHOLD) -> LoadedModel:
    return LoadedModel(
        engine=engine,
        name="credit-default",
        version=version,
        source="memory",
        training_data_hash=None,
        threshold=threshold,
        threshold_source="test",
    )


class Raising:
    """A challenger whose every call fails (a training/serving skew bug)."""

    name = "raising"

    def predict_proba(self, columns):
        raise KeyError("columns are missing: {'loan_to_income'}")


class Hanging:
    """A challenger that never answers until the test releases it."""

    name = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def predict_proba(self, columns):
        self.calls += 1
        self.release.wait(30)
        return np.full(len(columns["age"]), 0.5)


@contextlib.asynccontextmanager
async def client_for(app):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://service"
        ) as client:
            yield client


def primary_p(pipeline, frame, i: int) -> float:
    return float(pipeline.predict_proba(frame[FEATURES].iloc[[i]])[0, 1])


def test_a_policy_has_one_source_for_the_share():
    with pytest.raises(ValidationError, match="canary sets the share"):
        ro.RolloutPolicy(challenger_share=0.5, canary=CanaryPlan())
    assert ro.RolloutPolicy(shadow=True).mode == "shadow"
    assert ro.RolloutPolicy(challenger_share=0.5).mode == "ab"


# ----------------------------------------------------------------------- the service
@pytest.mark.anyio
async def test_ab_is_sticky_and_says_who_answered(pipeline, frame):
    policy = ro.RolloutPolicy(salt="exp", challenger_share=0.5, **PATIENT)
    champion = loaded(SklearnEngine(pipeline), "1")
    challenger = loaded(SklearnEngine(pipeline), "2", threshold=0.9)
    app = ro.create_rollout_app(champion, challenger, policy)
    body = to_records(frame.iloc[[0]])[0]
    async with client_for(app) as client:
        seen = {}
        for customer in [f"C{i:07d}" for i in range(40)]:
            answers = [
                (
                    await client.post(
                        "/predict", json=body, headers={"X-Customer-Id": customer}
                    )
                ).json()
                for _ in range(3)
            ]
            assert len({(a["assigned"], a["served_by"]) for a in answers}) == 1
            seen[customer] = answers[0]
            expected = assign(customer, "exp", 0.5)
            assert answers[0]["assigned"] == answers[0]["served_by"] == expected
            assert (
                answers[0]["model_version"]
                == {"primary": "1", "challenger": "2"}[expected]
            )
        status = (await client.get("/rollout")).json()
    variants = [a["assigned"] for a in seen.values()]
    assert 0 < variants.count("challenger") < len(variants)
    assert status["served"]["primary"] + status["served"]["challenger"] == 120
    assert status["mode"] == "ab" and status["challenger_share"] == 0.5


@pytest.mark.anyio
async def test_every_answer_names_the_models_that_gave_it(pipeline, frame):
    champion = loaded(SklearnEngine(pipeline), "1")
    challenger = loaded(SklearnEngine(pipeline), "2")
    app = ro.create_rollout_app(
        champion,
        challenger,
        ro.RolloutPolicy(salt="exp", challenger_share=0.5, **PATIENT),
    )
    rows = frame.iloc[:40]
    customers = rows.customer_id.tolist()
    arms = [assign(c, "exp", 0.5) for c in customers]
    first = {arm: customers[arms.index(arm)] for arm in ("primary", "challenger")}
    async with client_for(app) as client:
        single = {
            arm: await client.post(
                "/predict",
                json=to_records(rows.iloc[[0]])[0],
                headers={"X-Customer-Id": customer},
            )
            for arm, customer in first.items()
        }
        batch = await client.post(
            "/predict/batch",
            json={"applications": to_records(rows), "customer_ids": customers},
        )
        schema = (await client.get("/openapi.json")).json()
    for arm, answer in single.items():
        assert answer.headers["X-Model-Name"] == "credit-default"
        assert answer.headers["X-Model-Version"] == answer.json()["model_version"]
        assert answer.json()["served_by"] == arm
    # a batch both arms answered names both versions, in the order rows met them
    in_order = list(dict.fromkeys(batch.json()["model_version"]))
    assert sorted(in_order) == ["1", "2"]
    assert batch.headers["X-Model-Version"] == ", ".join(in_order)
    assert batch.headers["X-Model-Name"] == "credit-default"
    for route in ("/predict", "/predict/batch"):
        declared = schema["paths"][route]["post"]["responses"]["200"]["headers"]
        assert set(declared) == {"X-Model-Name", "X-Model-Version"}, route


@pytest.mark.anyio
async def test_a_request_without_a_valid_customer_is_a_422(pipeline, frame):
    model = loaded(SklearnEngine(pipeline), "1")
    app = ro.create_rollout_app(model, model, ro.RolloutPolicy(challenger_share=0.5))
    body = to_records(frame.iloc[[0]])[0]
    async with client_for(app) as client:
        missing = await client.post("/predict", json=body)
        bad = await client.post("/predict", json=body, headers={"X-Customer-Id": "a b"})
        batch = await client.post(
            "/predict/batch",
            json={"applications": [body, body], "customer_ids": ["C1"]},
        )
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["header", "X-Customer-Id"]
    assert bad.status_code == 422
    assert batch.status_code == 422
    assert "1 customer_ids for 2 applications" in batch.text


@pytest.mark.anyio
async def test_batch_routes_each_row_like_the_single_route(pipeline, frame):
    champion = loaded(SklearnEngine(pipeline), "1")
    challenger = loaded(SklearnEngine(pipeline), "2", threshold=0.05)
    policy = ro.RolloutPolicy(salt="exp", challenger_share=0.3, **PATIENT)
    app = ro.create_rollout_app(champion, challenger, policy)
    rows = frame.iloc[:200]
    body = {"applications": to_records(rows), "customer_ids": rows.customer_id.tolist()}
    async with client_for(app) as client:
        answer = (await client.post("/predict/batch", json=body)).json()
    expected = [assign(c, "exp", 0.3) for c in rows.customer_id]
    assert answer["assigned"] == answer["served_by"] == expected
    p = pipeline.predict_proba(rows[FEATURES])[:, 1]
    assert np.allclose(answer["probability_of_default"], p)
    cut = np.where(np.array(expected) == "challenger", 0.05, THRESHOLD)
    assert answer["decision"] == np.where(p >= cut, "reject", "approve").tolist()


@pytest.mark.anyio
async def test_shadow_never_changes_the_answer_and_logs_both(pipeline, frame, tmp_path):
    champion = loaded(SklearnEngine(pipeline), "1")
    challenger = loaded(
        SklearnEngine(make_model("baseline").fit(*features_and_target(frame))), "2"
    )
    log = tmp_path / "shadow.jsonl"
    policy = ro.RolloutPolicy(shadow=True, shadow_log=log, **PATIENT)
    app = ro.create_rollout_app(champion, challenger, policy)
    async with client_for(app) as client:
        for i in range(10):
            r = await client.post(
                "/predict",
                json=to_records(frame.iloc[[i]])[0],
                headers={"X-Customer-Id": f"C{i}"},
            )
            assert r.json()["assigned"] == r.json()["served_by"] == "primary"
            assert r.json()["probability_of_default"] == pytest.approx(
                primary_p(pipeline, frame, i)
            )
        assert app.state.rollout.mirror.drain()
        status = (await client.get("/rollout")).json()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 10 and {r["status"] for r in records} == {"ok"}
    assert records[3]["primary"] == pytest.approx(primary_p(pipeline, frame, 3))
    assert records[3]["challenger"] == pytest.approx(frame["default"].mean())
    assert status["shadow"] == {"submitted": 10, "ok": 10}


@pytest.mark.anyio
async def test_a_crashing_shadow_challenger_never_breaks_the_primary(pipeline, frame):
    champion = loaded(SklearnEngine(pipeline), "1")
    app = ro.create_rollout_app(
        champion, loaded(Raising(), "2"), ro.RolloutPolicy(shadow=True)
    )
    async with client_for(app) as client:
        answers = [
            await client.post(
                "/predict",
                json=to_records(frame.iloc[[i]])[0],
                headers={"X-Customer-Id": f"C{i}"},
            )
            for i in range(5)
        ]
        assert app.state.rollout.mirror.drain()
        status = (await client.get("/rollout")).json()
    assert [a.status_code for a in answers] == [200] * 5
    for i, a in enumerate(answers):
        assert a.json()["probability_of_default"] == pytest.approx(
            primary_p(pipeline, frame, i)
        )
    assert status["shadow"] == {"submitted": 5, "error": 5}
    last = app.state.rollout is None  # the lifespan closed the mirror on exit
    assert last


@pytest.mark.anyio
async def test_a_hanging_shadow_challenger_never_blocks_the_primary(pipeline, frame):
    # Event-based, not timed: every answer arrives while the challenger is provably
    # stuck (entered, its event never set). This challenger waits on an Event, which
    # releases the GIL; a CPU-bound one does slow the primary (chapter 12 measures).
    hanging = Hanging()
    champion = loaded(SklearnEngine(pipeline), "1")
    policy = ro.RolloutPolicy(shadow=True, shadow_timeout=0.2, shadow_queue=3)
    app = ro.create_rollout_app(champion, loaded(hanging, "2"), policy)
    try:
        async with client_for(app) as client:
            answers = [
                await client.post(
                    "/predict",
                    json=to_records(frame.iloc[[i]])[0],
                    headers={"X-Customer-Id": f"C{i}"},
                )
                for i in range(20)
            ]
            mirror = app.state.rollout.mirror
            assert mirror.drain()
            counts = dict(mirror.counts)
            assert hanging.calls >= 1 and not hanging.release.is_set()
    finally:
        hanging.release.set()
    assert [a.status_code for a in answers] == [200] * 20
    for i, a in enumerate(answers):
        assert a.json()["probability_of_default"] == pytest.approx(
            primary_p(pipeline, frame, i)
        )
    assert counts["submitted"] + counts.get("dropped", 0) == 20
    assert counts["timeout"] >= 1 and "ok" not in counts
    assert hanging.calls <= 4  # at most max_stuck calls left hanging, then skipped


@pytest.mark.anyio
async def test_a_failing_canary_rolls_back_and_customers_still_get_answers(
    pipeline, frame
):
    plan = CanaryPlan(steps=(0.5, 1.0), min_requests=5, hold_seconds=0)
    policy = ro.RolloutPolicy(salt="exp", canary=plan)
    champion = loaded(SklearnEngine(pipeline), "1")
    app = ro.create_rollout_app(
        champion, loaded(Raising(), "2"), policy, clock=lambda: 0.0
    )
    async with client_for(app) as client:
        answers = [
            await client.post(
                "/predict",
                json=to_records(frame.iloc[[i]])[0],
                headers={"X-Customer-Id": f"C{i:07d}"},
            )
            for i in range(60)
        ]
        status = (await client.get("/rollout")).json()
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["served_by"] for a in answers} == {"primary"}
    assigned = [a.json()["assigned"] for a in answers]
    failures = status["served"]["challenger_failures"]
    assert assigned.count("challenger") == failures  # kept on its arm for the analysis
    assert status["canary_state"] == "rolled_back" and status["challenger_share"] == 0
    assert 2 <= failures <= plan.min_requests  # stopped by the step's judgement
    assert f"errors {failures}/{failures} = 100.0%" in status["canary_history"][0]


@pytest.mark.anyio
async def test_a_hanging_canary_times_out_to_the_primary(pipeline, frame):
    hanging = Hanging()
    plan = CanaryPlan(steps=(0.5, 1.0), min_requests=5, hold_seconds=0)
    policy = ro.RolloutPolicy(salt="exp", canary=plan, challenger_timeout=0.1)
    champion = loaded(SklearnEngine(pipeline), "1")
    app = ro.create_rollout_app(
        champion, loaded(hanging, "2"), policy, clock=lambda: 0.0
    )
    try:
        async with client_for(app) as client:
            answers = [
                await client.post(
                    "/predict",
                    json=to_records(frame.iloc[[i]])[0],
                    headers={"X-Customer-Id": f"C{i}"},
                )
                for i in range(30)
            ]
            status = (await client.get("/rollout")).json()
    finally:
        hanging.release.set()
    assert {a.json()["served_by"] for a in answers} == {"primary"}
    for i, a in enumerate(answers):
        assert a.json()["probability_of_default"] == pytest.approx(
            primary_p(pipeline, frame, i)
        )
    assert hanging.calls == status["served"]["challenger_failures"] >= 2
    assert status["canary_state"] == "rolled_back"


@pytest.mark.anyio
async def test_a_failing_batch_keeps_each_row_on_its_assigned_arm(pipeline, frame):
    champion = loaded(SklearnEngine(pipeline), "1")
    policy = ro.RolloutPolicy(salt="exp", challenger_share=0.5)
    app = ro.create_rollout_app(champion, loaded(Raising(), "2", 0.01), policy)
    rows = frame.iloc[:50]
    body = {"applications": to_records(rows), "customer_ids": rows.customer_id.tolist()}
    async with client_for(app) as client:
        answer = (await client.post("/predict/batch", json=body)).json()
    expected = [assign(c, "exp", 0.5) for c in rows.customer_id]
    assert answer["assigned"] == expected and "challenger" in expected
    assert answer["served_by"] == ["primary"] * 50
    assert answer["model_version"] == ["1"] * 50
    p = pipeline.predict_proba(rows[FEATURES])[:, 1]
    assert answer["decision"] == np.where(p >= THRESHOLD, "reject", "approve").tolist()


# ------------------------------------------------------------- config and factory
def write_config(tmp_path, pipeline, **policy) -> str:
    joblib.dump(pipeline, tmp_path / "model.joblib")
    models = {
        v: Settings(
            model_path=tmp_path / "model.joblib", model_version=v, threshold=0.3
        )
        for v in ("p1", "c2")
    }
    config = ro.RolloutConfig(
        primary=models["p1"],
        challenger=models["c2"],
        policy=ro.RolloutPolicy(**policy),
    )
    path = tmp_path / "rollout.json"
    path.write_text(config.model_dump_json(indent=2))
    return str(path)


def test_a_rollout_config_round_trips_and_refuses_unknown_fields(tmp_path, pipeline):
    path = write_config(tmp_path, pipeline, salt="exp", challenger_share=0.25)
    text = Path(path).read_text(encoding="utf-8")
    config = ro.RolloutConfig.model_validate_json(text)
    assert config.primary.model_version == "p1" and config.policy.mode == "ab"
    assert ro.RolloutConfig.model_validate_json(config.model_dump_json()) == config
    assert (
        ro.RolloutConfig(primary=config.primary, challenger=config.challenger).policy
        == ro.RolloutPolicy()
    )  # no policy: the primary only
    broken = json.loads(text)
    broken["policy"]["share"] = 0.5
    with pytest.raises(ValidationError, match="share"):
        ro.RolloutConfig.model_validate(broken)


@pytest.mark.anyio
async def test_the_uvicorn_factory_serves_the_config_the_variable_names(
    tmp_path, pipeline, frame, monkeypatch
):
    monkeypatch.delenv(ro.CONFIG_ENV, raising=False)
    with pytest.raises(RuntimeError, match=ro.CONFIG_ENV):
        ro.rollout_app_from_env()
    path = write_config(tmp_path, pipeline, salt="exp", challenger_share=1.0)
    monkeypatch.setenv(ro.CONFIG_ENV, path)
    app = ro.rollout_app_from_env()
    async with client_for(app) as client:
        status = (await client.get("/rollout")).json()
        answer = await client.post(
            "/predict",
            json=to_records(frame.iloc[[0]])[0],
            headers={"X-Customer-Id": "C1"},
        )
    assert status["mode"] == "ab" and status["salt"] == "exp"
    assert answer.json()["model_version"] == "c2"
    assert answer.json()["threshold"] == 0.3


@pytest.mark.anyio
async def test_models_that_do_not_load_make_ready_a_503(tmp_path):
    missing = Settings(model_path=tmp_path / "nope.joblib")
    app = ro.create_rollout_app(missing, missing, ro.RolloutPolicy())
    async with client_for(app) as client:
        ready = await client.get("/ready")
        health = await client.get("/health")
    assert health.status_code == 200
    assert ready.status_code == 503 and "nope.joblib" in ready.json()["detail"]


# ---------------------------------------------------------------------- Seldon Core
