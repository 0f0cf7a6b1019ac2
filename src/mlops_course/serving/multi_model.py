"""Several named models in one process, micro-batched or not (chapter 15).

:func:`create_multi_model_app` is an opt-in app factory beside chapter 5's
``create_app`` (untouched). It serves named models (``/models/{name}/predict``,
and ``/predict`` for the first one) with the same contract, errors and limits,
batched by one :class:`~mlops_course.serving.batching.MicroBatcher` or not
(``BatchSettings.enabled``), which is how the chapter and
``benchmarks/serving.py`` compare the two::

    MLOPS_MODELS='{"credit-default": {"onnx_path": "model.onnx"}}' \\
    MLOPS_BATCH_MAX_WAIT_MS=1 python -m uvicorn \\
        mlops_course.serving.multi_model:multi_model_app_from_env --factory --port 8000

Failures stay with their request: a row that breaks the contract is refused
by validation (422) before it reaches the queue; a row whose engine call fails
gets a 500 for that request alone. Shutdown refuses new rows (503) and answers
every queued one first. ``/models/{name}/predict/columns`` takes a batch column
by column (:data:`~mlops_course.serving.schemas.ColumnBatch`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from mlops_course.serving.app import (
    apply_contract,
    content_type,
    name_models,
    with_model_headers,
)
from mlops_course.serving.batching import BatcherClosed, BatchSettings, MicroBatcher
from mlops_course.serving.engines import ModelLoadError
from mlops_course.serving.launch import log_to_stderr
from mlops_course.serving.loading import LoadedModel, load_model
from mlops_course.serving.schemas import (
    ENV_PREFIX,
    ERRORS,
    JSON,
    Application,
    BatchPrediction,
    ColumnBatch,
    Metadata,
    Prediction,
    Status,
    columns_of,
    unequal_columns,
)
from mlops_course.serving.settings import Settings

logger = logging.getLogger("mlops_course.serving")

#: Environment variable holding the models to serve: a JSON object name -> Settings.
MODELS_ENV = f"{ENV_PREFIX}MODELS"
#: This module's uvicorn factory (for ``uvicorn_command(factory=...)``).
UVICORN_FACTORY = "mlops_course.serving.multi_model:multi_model_app_from_env"


class ModelInfo(BaseModel):
    """One served model: its route and its metadata, or why it did not load."""

    name: str
    route: str
    metadata: Metadata | None = None
    error: str | None = None


class BatchingInfo(BaseModel):
    """The batching settings and what the batcher has done so far."""

    enabled: bool
    max_batch_size: int
    max_wait_ms: float
    adaptive: bool
    offload: bool
    stats: dict[str, Any]


def served_model(name: str, request: Request, response: Response) -> LoadedModel:
    """Dependency: the named model, a 404 if unknown, a 503 if it did not load.

    The answer it serves names the model in the ``X-Model-Name`` and
    ``X-Model-Version`` headers, as the single-model service does.
    """
    state = request.app.state
    if name not in state.settings:
        known = ", ".join(sorted(state.settings))
        raise HTTPException(404, f"no model named {name!r}; served: {known}")
    model = state.models.get(name)
    if model is None:
        reason = state.errors.get(name, "not started")
        raise HTTPException(503, f"model {name!r} not loaded: {reason}")
    name_models(response, [model])
    return model


Served = Annotated[LoadedModel, Depends(served_model)]


async def _score_one(request: Request, name: str, application: Application) -> float:
    state = request.app.state
    if state.batcher is None:  # batching off: one engine call per request
        model: LoadedModel = state.models[name]
        return float(model.engine.predict_proba(columns_of([application]))[0])
    try:
        return await state.batcher.submit(name, application)
    except BatcherClosed as exc:
        raise HTTPException(503, str(exc)) from exc


def _prediction(model: LoadedModel, p: float) -> Prediction:
    return Prediction(
        probability_of_default=p,
        decision="reject" if p >= model.threshold else "approve",
        threshold=model.threshold,
        model_version=model.version,
    )


def create_multi_model_app(
    models: Mapping[str, Settings], batch: BatchSettings | None = None
) -> FastAPI:
    """A service for several named models, micro-batched unless ``batch`` says not."""
    if not models:
        raise ValueError("give at least one model")
    batch = batch or BatchSettings()
    settings = dict(models)
    default = next(iter(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.models, app.state.errors = {}, {}
        for name, one in settings.items():
            try:
                app.state.models[name] = load_model(one)
            except ModelLoadError as exc:
                app.state.errors[name] = str(exc)
                logger.error("model %s not loaded: %s", name, exc)
        if batch.enabled:
            engines = {n: m.engine for n, m in app.state.models.items()}
            app.state.batcher = MicroBatcher(
                engines,
                max_batch_size=batch.max_batch_size,
                max_wait_ms=batch.max_wait_ms,
                adaptive=batch.adaptive,
                offload=batch.offload,
            )
            app.state.batcher.start()
        try:
            yield
        finally:
            if app.state.batcher is not None:
                await app.state.batcher.close()  # answers what is queued first
            app.state.batcher = None
            app.state.models = {}

    app = FastAPI(
        title="Credit-default model service (several models, micro-batched)",
        version="2.0",
        summary="One process, several named models, one dynamic batcher.",
        lifespan=lifespan,
    )
    apply_contract(app)
    app.state.settings = settings
    app.state.models, app.state.errors = {}, {}
    app.state.batcher = None

    @app.get("/health", response_model=Status, response_model_exclude_none=True)
    async def health() -> Status:
        """The process is up (it says nothing about the models)."""
        return Status(status="ok")

    @app.get("/ready", response_model=Status, responses={503: ERRORS[503]})
    async def ready(request: Request) -> Status:
        """200 once every model is loaded, else 503 naming those that are not."""
        missing = sorted(set(settings) - set(request.app.state.models))
        if missing:
            raise HTTPException(503, f"models not loaded: {', '.join(missing)}")
        return Status(status="ready")

    @app.get("/models", response_model=list[ModelInfo])
    async def list_models(request: Request) -> list[ModelInfo]:
        """Every model this process serves, with its metadata or its load error."""
        state = request.app.state
        return [
            ModelInfo(
                name=name,
                route=f"/models/{name}/predict",
                metadata=state.models[name].metadata()
                if name in state.models
                else None,
                error=state.errors.get(name),
            )
            for name in settings
        ]

    @app.get("/batching", response_model=BatchingInfo)
    async def batching(request: Request) -> BatchingInfo:
        """The batch settings, and batch sizes seen so far."""
        batcher = request.app.state.batcher
        stats = batcher.stats.as_dict() if batcher is not None else {}
        return BatchingInfo(**batch.model_dump(), stats=stats)

    not_found = {404: {"model": ERRORS[422]["model"], "description": "Unknown model."}}

    @app.get(
        "/models/{name}/metadata",
        response_model=Metadata,
        responses=with_model_headers({**not_found, 503: ERRORS[503]}),
    )
    async def model_metadata(model: Served) -> Metadata:
        """Which model answers under this name."""
        return model.metadata()

    @app.post(
        "/models/{name}/predict",
        response_model=Prediction,
        responses=with_model_headers({**ERRORS, **not_found}),
        dependencies=[content_type(JSON)],
    )
    async def predict_named(
        name: str, application: Application, model: Served, request: Request
    ) -> Prediction:
        """Score one application with the named model (batched with its peers)."""
        return _prediction(model, await _score_one(request, name, application))

    @app.post(
        "/models/{name}/predict/columns",
        response_model=BatchPrediction,
        responses=with_model_headers({**ERRORS, **not_found}),
        dependencies=[content_type(JSON)],
    )
    async def predict_columns(batch: ColumnBatch, model: Served) -> BatchPrediction:  # type: ignore[valid-type]
        """Score a batch sent column by column (one list per feature), in one call."""
        problem = unequal_columns(batch)
        if problem is not None:
            raise HTTPException(
                422, [{"type": "value_error", "loc": ["body"], "msg": problem}]
            )
        return BatchPrediction.scored(
            model.engine.predict_proba(batch.model_dump()),
            threshold=model.threshold,
            model_version=model.version,
        )

    @app.post(
        "/predict",
        response_model=Prediction,
        responses=with_model_headers(ERRORS),
        dependencies=[content_type(JSON)],
    )
    async def predict(
        application: Application, request: Request, response: Response
    ) -> Prediction:
        """Score one application with the first model (as chapter 5's ``/predict``)."""
        model = served_model(default, request, response)
        return _prediction(model, await _score_one(request, default, application))

    return app


def models_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Settings]:
    """``MLOPS_MODELS`` (JSON name -> settings), else one model from ``MLOPS_*``."""
    env = os.environ if environ is None else environ
    text = env.get(MODELS_ENV, "").strip()
    if not text:
        one = Settings.from_env(env)
        return {one.model_name: one}
    given = json.loads(text)
    if not isinstance(given, dict) or not given:
        raise ValueError(f"{MODELS_ENV} must be a JSON object of name -> settings")
    return {
        name: Settings.model_validate({"model_name": name, **values})
        for name, values in given.items()
    }


def models_env(models: Mapping[str, Settings]) -> dict[str, str]:
    """The ``MLOPS_MODELS`` variable :func:`models_from_env` reads back."""
    values = {
        name: one.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        for name, one in models.items()
    }
    return {MODELS_ENV: json.dumps(values)}


def multi_model_app_from_env() -> FastAPI:
    """Uvicorn factory (:data:`UVICORN_FACTORY`): models and batching from env."""
    log_to_stderr()
    return create_multi_model_app(models_from_env(), BatchSettings.from_env())


__all__ = [
    "MODELS_ENV",
    "UVICORN_FACTORY",
    "BatchingInfo",
    "ModelInfo",
    "create_multi_model_app",
    "models_env",
    "models_from_env",
    "multi_model_app_from_env",
    "served_model",
]
