"""POST /admin/reload: opt-in, authenticated, swaps the model, keeps the old one
when loading fails."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading

import httpx
import joblib
import pytest

from mlops_course.data import FEATURES
from mlops_course.modeling import features_and_target, make_model
from mlops_course.serving import RELOAD_PATH, Settings, to_records
from mlops_course.serving.settings import MIN_TOKEN_CHARS
from tests.serving_helpers import client_for, log_version

TOKEN = secrets.token_urlsafe()  # a new one per test session, as in chapter 8
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def with_reload(**options) -> Settings:
    """Settings with the reload route on and this session's admin token.

    A model file carries no threshold here, so file models get one (chapter 5).
    """
    if "model_path" in options:
        options.setdefault("threshold", 0.2)
    return Settings(allow_reload=True, admin_token=TOKEN, **options)


PHASE1_PATHS = {
    "/health",
    "/ready",
    "/metadata",
    "/predict",
    "/predict/batch",
    "/predict/batch/arrow",
}


@pytest.fixture(scope="module")
def data(trained_logreg):
    _, train, test = trained_logreg(3_000, seed=5)
    return train, test


@pytest.fixture(scope="module")
def pipelines(data, trained_logreg):
    """Two different models: all the training rows, and the first 600 only."""
    X, y = features_and_target(data[0])
    return (
        trained_logreg(3_000, seed=5).pipeline,
        make_model("logreg", seed=0, C=0.01).fit(X.iloc[:600], y.iloc[:600]),
    )


async def probability(client: httpx.AsyncClient, row: dict) -> float:
    response = await client.post("/predict", json=row)
    assert response.status_code == 200, response.text
    return response.json()["probability_of_default"]


def expected(pipeline, data) -> float:
    return float(pipeline.predict_proba(data[1][FEATURES].iloc[:1])[0, 1])


@pytest.mark.anyio
async def test_without_the_setting_there_is_no_route_and_openapi_is_phase1(
    pipelines, data, tmp_path
):
    path = tmp_path / "model.joblib"
    joblib.dump(pipelines[0], path)
    async with client_for(Settings(model_path=path, threshold=0.2)) as client:
        assert (await client.post(RELOAD_PATH, headers=AUTH)).status_code == 404
        assert (await client.post(RELOAD_PATH)).status_code == 404
        default = (await client.get("/openapi.json")).json()
    async with client_for(with_reload(model_path=path)) as client:
        reloadable = (await client.get("/openapi.json")).json()
    assert set(default["paths"]) == PHASE1_PATHS
    assert set(reloadable["paths"]) == PHASE1_PATHS | {RELOAD_PATH}
    # the reload route only adds: every Phase 1 path and schema is unchanged
    for name in PHASE1_PATHS:
        assert reloadable["paths"][name] == default["paths"][name]
    schemas = reloadable["components"]["schemas"]
    assert {k: schemas[k] for k in default["components"]["schemas"]} == default[
        "components"
    ]["schemas"]


def test_the_setting_comes_from_the_environment():
    env = {"MLOPS_ALLOW_RELOAD": "true", "MLOPS_ADMIN_TOKEN": TOKEN}
    settings = Settings.from_env(env)
    assert settings.allow_reload is True
    assert settings.admin_token.get_secret_value() == TOKEN
    assert settings.to_env() == {
        "MLOPS_ALLOW_RELOAD": "True",
        "MLOPS_ADMIN_TOKEN": TOKEN,
    }
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings.from_env({}).allow_reload is False


@pytest.mark.parametrize(
    "env",
    [
        {"MLOPS_ALLOW_RELOAD": "true"},
        {"MLOPS_ALLOW_RELOAD": "true", "MLOPS_ADMIN_TOKEN": "  "},
        {"MLOPS_ALLOW_RELOAD": "true", "MLOPS_ADMIN_TOKEN": "short-secret"},
    ],
)
def test_reload_without_a_real_token_refuses_to_start(env):
    with pytest.raises(ValueError, match="ALLOW_RELOAD=true needs MLOPS_ADMIN_TOKEN"):
        Settings.from_env(env)


def test_the_token_never_shows(tmp_path):
    settings = with_reload(model_path=tmp_path / "model.joblib")
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert TOKEN not in settings.model_dump_json()
    short = "s3cret-but-short"[: MIN_TOKEN_CHARS - 1]
    with pytest.raises(ValueError) as refused:
        Settings(allow_reload=True, admin_token=short)
    assert short not in str(refused.value)  # errors do not echo the input


@pytest.mark.anyio
async def test_the_admin_route_answers_401_403_then_200(pipelines, tmp_path, caplog):
    path = tmp_path / "model.joblib"
    joblib.dump(pipelines[0], path)
    caplog.set_level(logging.INFO, logger="mlops_course.serving")
    async with client_for(with_reload(model_path=path)) as client:
        missing = await client.post(RELOAD_PATH)
        basic = await client.post(RELOAD_PATH, headers={"Authorization": "Basic eDp5"})
        empty = await client.post(RELOAD_PATH, headers={"Authorization": "Bearer "})
        wrong = await client.post(
            RELOAD_PATH, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}
        )
        non_ascii = await client.post(
            RELOAD_PATH, headers={"Authorization": "Bearer caf\u00e9".encode()}
        )
        right = await client.post(RELOAD_PATH, headers=AUTH)
        metadata = (await client.get("/metadata")).text
        openapi = (await client.get("/openapi.json")).json()
    for answer in (missing, basic, empty):
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json() == {
            "detail": "admin route: send the admin token as "
            "'Authorization: Bearer <token>'"
        }
    for answer in (wrong, non_ascii):
        assert answer.status_code == 403, answer.text
        assert answer.json() == {
            "detail": "admin route: this token is not the admin token"
        }
    assert right.status_code == 200 and right.json()["changed"] is False
    assert TOKEN not in metadata
    assert TOKEN not in caplog.text
    assert "admin reload refused: wrong bearer token" in caplog.text
    route = openapi["paths"][RELOAD_PATH]["post"]
    assert route["security"] == [{"adminToken": []}]
    assert {"401", "403", "409", "502"} <= set(route["responses"])
    scheme = openapi["components"]["securitySchemes"]["adminToken"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "description": "The service's admin token (MLOPS_ADMIN_TOKEN).",
    }
    assert TOKEN not in str(openapi)


@pytest.mark.anyio
async def test_a_wrong_token_does_not_reload(pipelines, data, tmp_path):
    first, second = pipelines
    path = tmp_path / "model.joblib"
    joblib.dump(first, path)
    async with client_for(with_reload(model_path=path)) as client:
        before = (await client.get("/metadata")).json()["model_version"]
        joblib.dump(second, path)
        wrong = {"Authorization": "Bearer " + secrets.token_urlsafe()}
        assert (await client.post(RELOAD_PATH, headers=wrong)).status_code == 403
        assert (await client.get("/metadata")).json()["model_version"] == before


@pytest.mark.anyio
async def test_reload_swaps_in_the_new_file_and_keeps_it_on_failure(
    pipelines, data, tmp_path
):
    first, second = pipelines
    path = tmp_path / "model.joblib"
    joblib.dump(first, path)
    row = to_records(data[1].iloc[:1])[0]
    async with client_for(with_reload(model_path=path)) as client:
        old_version = (await client.get("/metadata")).json()["model_version"]
        assert await probability(client, row) == pytest.approx(
            expected(first, data), abs=1e-5
        )
        # nothing changed on disk: a reload is harmless and says so
        same = await client.post(RELOAD_PATH, headers=AUTH)
        assert same.status_code == 200 and same.json()["changed"] is False

        joblib.dump(second, path)
        # until the reload, the model loaded at start-up answers
        assert await probability(client, row) == pytest.approx(
            expected(first, data), abs=1e-5
        )
        response = await client.post(RELOAD_PATH, headers=AUTH)
        assert response.status_code == 200, response.text
        answer = response.json()
        new_version = (await client.get("/metadata")).json()["model_version"]
        assert answer == {
            "previous_version": old_version,
            "model_version": new_version,
            "model_source": "file:model.joblib",
            "changed": True,
        }
        assert new_version != old_version
        assert await probability(client, row) == pytest.approx(
            expected(second, data), abs=1e-5
        )

        path.write_bytes(b"not a model")  # a broken deployment
        failed = await client.post(RELOAD_PATH, headers=AUTH)
        assert failed.status_code == 502
        detail = failed.json()["detail"]
        assert detail.startswith(f"reload failed (still serving version {new_version})")
        # the old model still answers, and the service still says it is ready
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/metadata")).json()["model_version"] == new_version
        assert await probability(client, row) == pytest.approx(
            expected(second, data), abs=1e-5
        )


@pytest.mark.anyio
async def test_reload_loads_a_model_that_was_missing_at_start(
    pipelines, data, tmp_path
):
    path = tmp_path / "model.joblib"
    async with client_for(with_reload(model_path=path)) as client:
        assert (await client.get("/ready")).status_code == 503
        failed = await client.post(RELOAD_PATH, headers=AUTH)
        assert failed.status_code == 502
        assert "(no model)" in failed.json()["detail"]
        assert "model file not found" in failed.json()["detail"]
        joblib.dump(pipelines[0], path)
        response = await client.post(RELOAD_PATH, headers=AUTH)
        assert response.status_code == 200
        assert response.json()["previous_version"] is None
        assert (await client.get("/ready")).status_code == 200


@pytest.mark.anyio
async def test_a_second_reload_while_one_runs_gets_409(
    pipelines, data, tmp_path, monkeypatch
):
    from mlops_course.serving import reload

    path = tmp_path / "model.joblib"
    joblib.dump(pipelines[0], path)
    entered, release = threading.Event(), threading.Event()
    real_load = reload.load_model

    def slow_load(settings):  # the real loader, held until the test lets it go
        entered.set()
        release.wait(timeout=30)
        return real_load(settings)

    monkeypatch.setattr(reload, "load_model", slow_load)
    async with client_for(with_reload(model_path=path)) as client:
        first = asyncio.create_task(client.post(RELOAD_PATH, headers=AUTH))
        while not entered.is_set():
            await asyncio.sleep(0.01)
        second = await client.post(RELOAD_PATH, headers=AUTH)
        # the service keeps answering while the first reload loads
        ready = await client.get("/ready")
        release.set()
        done = await first
    assert second.status_code == 409 and "already running" in second.json()["detail"]
    assert ready.status_code == 200
    assert done.status_code == 200


# ----------------------------------------------------------------------------- MLflow


@pytest.mark.slow
@pytest.mark.anyio
# SQLAlchemy 2.1 warns about MLflow's own store code (STACK_FACTS): not ours to fix.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
async def test_reload_follows_the_alias_through_promotion_and_rollback(
    pipelines, data, tmp_path
):
    import mlflow
    from mlflow import MlflowClient

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    try:
        artifacts = (tmp_path / "artifacts").as_uri()
        mlflow.set_experiment(
            experiment_id=mlflow.create_experiment("reload", artifacts)
        )
        versions = [
            log_version(pipelines[0], data, threshold=0.31),
            log_version(pipelines[1], data, threshold=0.42),
            log_version(pipelines[1], data, threshold=None),  # unservable
        ]
    finally:
        mlflow.set_tracking_uri(None)
    assert versions == ["1", "2", "3"]
    client = MlflowClient(tracking_uri=tracking)

    def point(alias_version: str) -> None:
        client.set_registered_model_alias("credit-default", "champion", alias_version)

    point("1")
    row = to_records(data[1].iloc[:1])[0]
    settings = with_reload(
        model_uri="models:/credit-default@champion", tracking_uri=tracking
    )
    async with client_for(settings) as api:

        async def served() -> tuple[str, float]:
            meta = (await api.get("/metadata")).json()
            return meta["model_version"], meta["threshold"]

        assert await served() == ("1", 0.31)
        point("2")  # promotion: the service does not notice on its own...
        assert await served() == ("1", 0.31)
        promoted = await api.post(RELOAD_PATH, headers=AUTH)  # ...until it reloads
        assert promoted.json() == {
            "previous_version": "1",
            "model_version": "2",
            "model_source": "models:/credit-default/2",
            "changed": True,
        }
        assert await served() == ("2", 0.42)
        assert await probability(api, row) == pytest.approx(
            expected(pipelines[1], data), abs=1e-5
        )

        point("1")  # rollback
        assert (await api.post(RELOAD_PATH, headers=AUTH)).json()[
            "model_version"
        ] == "1"
        assert await served() == ("1", 0.31)

        point("3")  # a version the service cannot serve: refused, 1 stays
        failed = await api.post(RELOAD_PATH, headers=AUTH)
        assert failed.status_code == 502
        assert "still serving version 1" in failed.json()["detail"]
        assert "no decision_threshold" in failed.json()["detail"]
        assert await served() == ("1", 0.31)

        client.delete_registered_model_alias("credit-default", "champion")
        gone = await api.post(RELOAD_PATH, headers=AUTH)
        assert gone.status_code == 502 and "champion" in gone.json()["detail"]
        assert await served() == ("1", 0.31)
