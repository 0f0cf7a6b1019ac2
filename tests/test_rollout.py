"""Safe rollouts: sticky split, canary decisions, a challenger that fails or hangs."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from mlops_course.data import FEATURES
from mlops_course.modeling import features_and_target, make_model
from mlops_course.serving import LoadedModel, SklearnEngine, to_records
from mlops_course.serving import rollout as ro

THRESHOLD = 0.2


@pytest.fixture(scope="module")
def frame(trained_logreg):
    return trained_logreg(1_500, seed=5, split=False).train


@pytest.fixture(scope="module")
def pipeline(trained_logreg):
    return trained_logreg(1_500, seed=5, split=False).pipeline


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


# ------------------------------------------------------------------ sticky assignment
def test_bucket_is_sha256_of_salt_and_customer():
    digest = hashlib.sha256(b"exp-1:C0000042").digest()
    assert ro.bucket("C0000042", "exp-1") == int.from_bytes(digest[:8], "big") % 10_000
    assert ro.bucket("C0000042", "exp-1") != ro.bucket("C0000042", "exp-2")


def test_assignment_survives_a_restart_with_another_hash_seed():
    ids = [f"C{i:07d}" for i in range(50)]
    code = (
        "import json,sys; from mlops_course.serving.rollout import assign;"
        "print(json.dumps([assign(c, 'exp', 0.5) for c in json.loads(sys.argv[1])]))"
    )
    env = {"PYTHONHASHSEED": "random"}
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(ids)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
    )
    assert json.loads(run.stdout) == [ro.assign(c, "exp", 0.5) for c in ids]


def test_split_follows_the_share_and_only_grows():
    ids = [f"C{i:07d}" for i in range(20_000)]
    at = {
        s: {c for c in ids if ro.assign(c, "exp", s) == "challenger"}
        for s in (0.0, 0.05, 0.25, 0.5, 1.0)
    }
    assert len(at[0.0]) == 0 and len(at[1.0]) == len(ids)
    for share in (0.05, 0.25, 0.5):
        assert abs(len(at[share]) / len(ids) - share) < 0.015
    assert at[0.05] <= at[0.25] <= at[0.5]  # raising the share never moves anyone back
    with pytest.raises(ValueError, match="challenger_share"):
        ro.assign("C1", "exp", 1.5)


# ------------------------------------------------------------------------- the canary
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(canary, clock, n_canary, n_primary, *, errors=(0, 0), ms=(5.0, 5.0)):
    """Report calls of both arms over one simulated second per 10 calls.

    ``errors`` fails every k-th call of (canary, primary) (0: none); ``ms`` is a
    latency per arm, spread by a fixed pattern so percentiles are meaningful.
    """
    spread = np.tile(np.linspace(0.8, 1.2, 10), n_canary + n_primary)
    for variant, n, every, base in [
        ("challenger", n_canary, errors[0], ms[0]),
        ("primary", n_primary, errors[1], ms[1]),
    ]:
        ok = np.ones(n, dtype=bool)
        if every:
            ok[every - 1 :: every] = False
        canary.observe(variant, ok, base * spread[:n])
    clock.now += (n_canary + n_primary) / 10


def test_a_healthy_canary_is_judged_once_per_step_and_promoted():
    clock = FakeClock()
    canary = ro.Canary(ro.CanaryPlan(min_requests=50, hold_seconds=10), clock=clock)
    shares = [canary.share]
    for _ in range(3):
        n = 50  # the canary's calls; the primary gets the rest of the traffic
        feed(canary, clock, n, round(n * (1 - canary.share) / canary.share))
        decision = canary.evaluate()
        shares.append(canary.share)
    assert shares == [0.05, 0.25, 0.5, 1.0]
    assert decision.action == "promoted" and canary.state == "promoted"
    assert [d.action for d in canary.history] == ["step_up"] * 2 + ["promoted"]
    assert "50 canary calls" in canary.history[0].reason


def test_canary_holds_until_it_has_seen_enough_and_the_hold_time():
    clock = FakeClock()
    canary = ro.Canary(ro.CanaryPlan(min_requests=50, hold_seconds=600), clock=clock)
    feed(canary, clock, 49, 900)
    decision = canary.evaluate()
    assert decision.action == "hold" and "49/50" in decision.reason
    feed(canary, clock, 1, 19)
    assert canary.evaluate().reason == "enough calls; holding the step"
    clock.now += 600
    assert canary.evaluate().action == "step_up" and canary.share == 0.25


def test_a_canary_that_fails_outright_is_stopped_early():
    clock = FakeClock()
    canary = ro.Canary(ro.CanaryPlan(min_requests=200, hold_seconds=0), clock=clock)
    feed(canary, clock, 0, 100)
    for _ in range(10):  # a call at a time: each failure is an early look
        canary.observe("challenger", False, 5.0)
        if canary.evaluate().action == "rolled_back":
            break
    assert canary.state == "rolled_back" and canary.share == 0.0
    assert "errors 2/2 = 100.0% vs 0.0% on the primary" in canary.history[0].reason
    feed(canary, clock, 500, 500)  # healthy again: a rolled-back canary stays down
    assert canary.evaluate().action == "hold" and canary.share == 0.0


def test_canary_rolls_back_on_more_errors_than_the_primary():
    clock = FakeClock()
    plan = ro.CanaryPlan(min_requests=200, hold_seconds=0, early_alpha=1e-12)
    canary = ro.Canary(plan, clock=clock)
    feed(canary, clock, 200, 3_800, errors=(10, 100))  # 10% against 1%
    decision = canary.evaluate()
    assert decision.action == "rolled_back" and "from 5%" in decision.reason
    assert "errors 20/200 = 10.0% vs 1.0% on the primary" in decision.reason


def test_errors_the_primary_makes_too_do_not_roll_the_canary_back():
    # 4% errors in both arms: an absolute limit of 2% would roll back; evidence does not
    clock = FakeClock()
    canary = ro.Canary(ro.CanaryPlan(min_requests=200, hold_seconds=0), clock=clock)
    feed(canary, clock, 200, 3_800, errors=(25, 25))
    assert canary.evaluate().action == "step_up"


def test_canary_rolls_back_when_slower_than_the_primary_in_the_same_step():
    clock = FakeClock()
    canary = ro.Canary(ro.CanaryPlan(min_requests=100, hold_seconds=0), clock=clock)
    feed(canary, clock, 100, 1_900, ms=(5.0, 5.0))
    assert canary.evaluate().action == "step_up" and canary.share == 0.25
    feed(canary, clock, 100, 300, ms=(10.0, 5.0))  # twice the primary's latency
    decision = canary.evaluate()
    assert decision.action == "rolled_back" and "from 25%" in decision.reason
    assert "calls over 7.5 ms 100.0% vs 0.0%" in decision.reason


def test_a_slow_primary_is_the_baseline_not_a_fixed_limit():
    clock = FakeClock()
    canary = ro.Canary(ro.CanaryPlan(min_requests=100, hold_seconds=0), clock=clock)
    feed(canary, clock, 100, 1_900, ms=(400.0, 400.0))  # slow, but both alike
    assert canary.evaluate().action == "step_up"
    stats = canary.window_stats()  # the new step starts empty
    assert stats["challenger_calls"] == 0 and stats["primary_calls"] == 0


def test_canary_checks_what_it_is_told():
    canary = ro.Canary(ro.CanaryPlan())
    with pytest.raises(ValueError, match="variant must be"):
        canary.observe("canary", True, 5.0)
    with pytest.raises(ValueError, match="same length"):
        canary.observe("primary", [True, True], [5.0])
    assert ro.CanaryPlan().test_alpha == pytest.approx(0.05 / 6)


@pytest.mark.parametrize(
    "steps",
    [(), (1.0,), (0.5, 0.25, 1.0), (0.05, 0.5), (0.0, 1.0), (0.5, 0.5, 1.0)],
)
def test_a_canary_plan_must_climb_to_everyone(steps):
    with pytest.raises(ValidationError, match="steps"):
        ro.CanaryPlan(steps=steps)


def test_a_policy_has_one_source_for_the_share():
    with pytest.raises(ValidationError, match="canary sets the share"):
        ro.RolloutPolicy(challenger_share=0.5, canary=ro.CanaryPlan())
    assert ro.RolloutPolicy(shadow=True).mode == "shadow"
    assert ro.RolloutPolicy(challenger_share=0.5).mode == "ab"


# ----------------------------------------------------------------------- the service
@pytest.mark.anyio
async def test_ab_is_sticky_and_says_who_answered(pipeline, frame):
    policy = ro.RolloutPolicy(salt="exp", challenger_share=0.5)
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
            expected = ro.assign(customer, "exp", 0.5)
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
    policy = ro.RolloutPolicy(salt="exp", challenger_share=0.3)
    app = ro.create_rollout_app(champion, challenger, policy)
    rows = frame.iloc[:200]
    body = {"applications": to_records(rows), "customer_ids": rows.customer_id.tolist()}
    async with client_for(app) as client:
        answer = (await client.post("/predict/batch", json=body)).json()
    expected = [ro.assign(c, "exp", 0.3) for c in rows.customer_id]
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
    policy = ro.RolloutPolicy(shadow=True, shadow_log=log)
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
    plan = ro.CanaryPlan(steps=(0.5, 1.0), min_requests=5, hold_seconds=0)
    policy = ro.RolloutPolicy(salt="exp", canary=plan)
    champion = loaded(SklearnEngine(pipeline), "1")
    app = ro.create_rollout_app(
        champion, loaded(Raising(), "2"), policy, clock=FakeClock()
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
    plan = ro.CanaryPlan(steps=(0.5, 1.0), min_requests=5, hold_seconds=0)
    policy = ro.RolloutPolicy(salt="exp", canary=plan, challenger_timeout=0.1)
    champion = loaded(SklearnEngine(pipeline), "1")
    app = ro.create_rollout_app(
        champion, loaded(hanging, "2"), policy, clock=FakeClock()
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
    expected = [ro.assign(c, "exp", 0.5) for c in rows.customer_id]
    assert answer["assigned"] == expected and "challenger" in expected
    assert answer["served_by"] == ["primary"] * 50
    assert answer["model_version"] == ["1"] * 50
    p = pipeline.predict_proba(rows[FEATURES])[:, 1]
    assert answer["decision"] == np.where(p >= THRESHOLD, "reject", "approve").tolist()


# ------------------------------------------------------------- config and factory
def write_config(tmp_path, pipeline, **policy) -> str:
    joblib.dump(pipeline, tmp_path / "model.joblib")
    models = {
        v: ro.Settings(
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
    missing = ro.Settings(model_path=tmp_path / "nope.joblib")
    app = ro.create_rollout_app(missing, missing, ro.RolloutPolicy())
    async with client_for(app) as client:
        ready = await client.get("/ready")
        health = await client.get("/health")
    assert health.status_code == 200
    assert ready.status_code == 503 and "nope.joblib" in ready.json()["detail"]


# ---------------------------------------------------------------------- Seldon Core
def manifest() -> dict:
    graph = {"name": "classifier", "implementation": "MLFLOW_SERVER", "type": "MODEL"}
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "credit-default", "namespace": "models"},
        "spec": {
            "protocol": "v2",
            "predictors": [
                {
                    "name": "main",
                    "traffic": 95,
                    "graph": {**graph, "modelUri": "s3://models/credit/1"},
                },
                {
                    "name": "canary",
                    "traffic": 5,
                    "graph": {**graph, "modelUri": "s3://models/credit/2"},
                },
                {
                    "name": "shadow",
                    "shadow": True,
                    "graph": {**graph, "modelUri": "s3://models/credit/3"},
                },
            ],
        },
    }


def schema_errors(document) -> list[str]:
    validator = Draft202012Validator(ro.seldon_schema())
    return [e.message for e in validator.iter_errors(document)]


def test_the_vendored_seldon_schema_accepts_a_canary_and_a_shadow():
    Draft202012Validator.check_schema(ro.seldon_schema())
    assert schema_errors(manifest()) == []
    assert ro.seldon_webhook_problems(manifest()) == []


def test_the_seldon_schema_refuses_broken_manifests():
    typo = copy.deepcopy(manifest())
    typo["spec"]["predictors"][2]["shadown"] = typo["spec"]["predictors"][2].pop(
        "shadow"
    )
    assert any("'shadown' was unexpected" in m for m in schema_errors(typo))
    percent = copy.deepcopy(manifest())
    percent["spec"]["predictors"][1]["traffic"] = "5%"
    assert any("'5%' is not of type 'integer'" in m for m in schema_errors(percent))
    no_graph = copy.deepcopy(manifest())
    del no_graph["spec"]["predictors"][0]["graph"]
    assert any("'graph' is a required property" in m for m in schema_errors(no_graph))


def test_the_webhook_rules_catch_what_the_schema_cannot():
    uneven = copy.deepcopy(manifest())
    uneven["spec"]["predictors"][1]["traffic"] = 10
    assert schema_errors(uneven) == []
    assert ro.seldon_webhook_problems(uneven) == [
        "Traffic must sum to 100 for multiple predictors (got 105)"
    ]
    two_shadows = copy.deepcopy(manifest())
    two_shadows["spec"]["predictors"][1]["shadow"] = True
    two_shadows["spec"]["predictors"][0]["traffic"] = 100
    assert ro.seldon_webhook_problems(two_shadows) == [
        "Multiple shadows are not allowed"
    ]
    alone = {"spec": {"predictors": [{"name": "s", "shadow": True}]}}
    assert ro.seldon_webhook_problems(alone) == [
        "Shadow can not exist as only predictor"
    ]


def test_the_seldon_core_2_schema_checks_models_and_experiments():
    validator = Draft202012Validator(ro.seldon_schema("v2"))
    Draft202012Validator.check_schema(validator.schema)
    meta = {"apiVersion": "mlops.seldon.io/v1alpha1", "metadata": {"name": "exp"}}
    model = {
        **meta,
        "kind": "Model",
        "spec": {"storageUri": "s3://m/1", "requirements": ["sklearn"]},
    }
    experiment = {
        **meta,
        "kind": "Experiment",
        "spec": {
            "default": "champion",
            "candidates": [
                {"name": "champion", "weight": 95},
                {"name": "challenger", "weight": 5},
            ],
            "mirror": {"name": "shadow", "percent": 100},
        },
    }
    assert list(validator.iter_errors(model)) == []
    assert list(validator.iter_errors(experiment)) == []
    no_uri = {**model, "spec": {"requirements": ["sklearn"]}}
    assert [e.message for e in validator.iter_errors(no_uri)] == [
        "'storageUri' is a required property"
    ]
    negative = copy.deepcopy(experiment)
    negative["spec"]["candidates"][1]["weight"] = -5
    assert any(
        "-5 is less than the minimum" in e.message
        for e in validator.iter_errors(negative)
    )
    with pytest.raises(ValueError, match="version"):
        ro.seldon_schema("v3")


def test_a_long_step_keeps_a_bounded_uniform_sample_of_latencies(monkeypatch):
    monkeypatch.setattr(ro.VariantTally, "cap", 1_000)
    canary = ro.Canary(ro.CanaryPlan(min_requests=10_000))
    canary.observe("primary", np.ones(20_000, bool), np.arange(20_000, dtype=float))
    stats = canary.window_stats()
    assert stats["primary_calls"] == 20_000
    kept = canary._arms["primary"].latency_ms
    assert len(kept) == 1_000  # bounded...
    assert 8_000 < np.median(kept) < 12_000  # ...and drawn from the whole step
