"""Dynamic (micro-)batching and several models in one process (chapter 15).

A :class:`MicroBatcher` gathers single-row requests that arrive close together
and scores them with ONE engine call: the first request of a batch waits at
most ``max_wait_ms`` for companions, a batch holds at most ``max_batch_size``
rows, and each request gets its own answer back through an asyncio future.
With ``adaptive=True`` the wait applies only under load: a row that finds the
queue empty is scored at once (no companion is coming), while a row that finds
others queued behind it waits up to ``max_wait_ms`` for the batch to fill. A
lone request then pays no wait, and batches grow exactly when traffic does.
One batcher (one queue, one scoring loop) serves every model of the process: a
batch is split by model name and each model's rows go to its engine at once.
The engine runs on the event loop by default (a call of well under a
millisecond, as chapter 5's ``async def`` routes do); ``offload=True`` moves it
to one worker thread that every model shares, for models slow enough that the
loop should keep reading requests meanwhile. On a busy CPU each hop to that
thread costs a context switch, which can exceed the call it saves.

:func:`create_app` is an opt-in app factory; chapter 5's ``create_app`` is
untouched. It serves named models (``/models/{name}/predict``, and ``/predict``
for the first one) with the same contract, errors and limits, batched or not
(``BatchSettings.enabled``), which is how the chapter and
``benchmarks/serving.py`` compare the two::

    MLOPS_MODELS='{"credit-default": {"onnx_path": "model.onnx"}}' \\
    MLOPS_BATCH_MAX_WAIT_MS=1 python -m uvicorn \\
        mlops_course.serving.batching:app_from_env --factory --port 8000

Failures stay with their request: a row that breaks the contract is refused
by validation (422) before it reaches the queue; if an engine call fails on a
batch, its rows are scored one by one, so only the row that fails gets the
error (a 500 for that request alone). Shutdown refuses new rows (503) and
answers every queued one before the scoring thread stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_settings import SettingsConfigDict

from mlops_course.serving.app import apply_contract, content_type
from mlops_course.serving.engines import Engine, ModelLoadError
from mlops_course.serving.loading import LoadedModel, load_model
from mlops_course.serving.schemas import (
    ENV_PREFIX,
    ERRORS,
    JSON,
    MAX_BATCH_ROWS,
    Application,
    BatchPrediction,
    Metadata,
    Prediction,
    Status,
    columns_of,
)
from mlops_course.serving.settings import EnvSettings, Settings

logger = logging.getLogger("mlops_course.serving")

#: Environment variable holding the models to serve: a JSON object name -> Settings.
MODELS_ENV = f"{ENV_PREFIX}MODELS"
BATCH_PREFIX = f"{ENV_PREFIX}BATCH_"


class BatcherClosed(RuntimeError):
    """The batcher is shutting down and takes no new rows."""


class BatchSettings(EnvSettings):
    """Whether to batch, and how: at most ``max_batch_size`` rows, ``max_wait_ms``."""

    model_config = SettingsConfigDict(env_prefix=BATCH_PREFIX)

    enabled: bool = True
    max_batch_size: int = Field(32, ge=1, le=MAX_BATCH_ROWS)
    max_wait_ms: float = Field(1.0, ge=0, le=1_000)
    adaptive: bool = False
    offload: bool = False


@dataclass
class BatchStats:
    """What the batcher did: batches run, rows scored, how often each size occurred."""

    batches: int = 0
    rows: int = 0
    failed_batches: int = 0
    sizes: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts, sizes in increasing order."""
        mean = self.rows / self.batches if self.batches else 0.0
        return {
            "batches": self.batches,
            "rows": self.rows,
            "failed_batches": self.failed_batches,
            "mean_batch_size": round(mean, 2),
            "sizes": {str(k): v for k, v in sorted(self.sizes.items())},
        }


@dataclass
class _Item:
    model: str
    application: Application
    future: asyncio.Future


_STOP = object()


class MicroBatcher:
    """Gathers concurrent rows into batches; one engine call per model and batch.

    ``engines`` maps a model name to its engine. A batch closes when it holds
    ``max_batch_size`` rows or ``max_wait_ms`` after its first row; with
    ``adaptive=True`` it closes at once when no other row is queued behind the
    first (no wait without load). Engine calls run on the event loop, or with
    ``offload=True`` on ``executor`` (one shared worker thread unless given), so
    the loop keeps reading requests while a batch is scored.
    Use it inside a running event loop: ``start()``, ``await submit(...)``,
    ``await close()``.
    """

    def __init__(
        self,
        engines: Mapping[str, Engine],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 1.0,
        adaptive: bool = False,
        offload: bool = False,
        executor: Executor | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, not {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, not {max_wait_ms}")
        self.engines = dict(engines)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1e3
        self.adaptive = adaptive
        self.stats = BatchStats()
        self.offload = offload or executor is not None
        self._own_executor = executor is None
        self._executor = executor
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._closed = True

    def start(self) -> None:
        """Start the batching task on the running event loop."""
        if self._task is not None:
            raise RuntimeError("batcher already started")
        if self.offload and self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="batcher")
        self._queue = asyncio.Queue()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return not self._closed

    async def submit(self, model: str, application: Application) -> float:
        """P(default) of one validated application, scored in the next batch."""
        if self._closed or self._queue is None:
            raise BatcherClosed("the service is shutting down")
        if model not in self.engines:
            raise KeyError(f"no model named {model!r}")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(model, application, future))
        return await future

    async def close(self) -> None:
        """Refuse new rows, answer every queued one, then stop the task and thread."""
        if self._task is None or self._queue is None:
            return
        self._closed = True
        self._queue.put_nowait(_STOP)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        """``first`` and the rows that join it within the wait; True on stop."""
        assert self._queue is not None
        queue, batch = self._queue, [first]
        if self.adaptive and queue.empty():
            return batch, False  # no load: nobody to wait for
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(batch) < self.max_batch_size:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    async def _run(self) -> None:
        assert self._queue is not None
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch, stop = await self._collect(first)
            await self._score(batch)
        # rows queued behind the stop marker cannot exist: submit refuses them

    async def _call(self, engine: Engine, rows: Sequence[Application]) -> np.ndarray:
        """One engine call, on the loop or on the worker thread."""
        if not self.offload:
            return _predict(engine, rows)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _predict, engine, rows)

    async def _score(self, batch: Sequence[_Item]) -> None:
        """Score each model's rows with one engine call; resolve every future."""
        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.sizes[len(batch)] += 1
        groups: dict[str, list[_Item]] = {}
        for item in batch:
            groups.setdefault(item.model, []).append(item)
        for name, items in groups.items():
            engine = self.engines[name]
            rows = [item.application for item in items]
            try:
                proba = await self._call(engine, rows)
            except Exception as exc:
                self.stats.failed_batches += 1
                logger.warning("batch of %d for %s failed: %s", len(rows), name, exc)
                await self._score_alone(engine, items)
                continue
            for item, p in zip(items, proba, strict=True):
                if not item.future.done():  # the client may have gone away
                    item.future.set_result(float(p))

    async def _score_alone(self, engine: Engine, items: Sequence[_Item]) -> None:
        """After a failed batch: one call per row, so an error stays with its row."""
        for item in items:
            try:
                proba = await self._call(engine, [item.application])
            except Exception as exc:
                if not item.future.done():
                    item.future.set_exception(exc)
            else:
                if not item.future.done():
                    item.future.set_result(float(proba[0]))


def _predict(engine: Engine, rows: Sequence[Application]) -> np.ndarray:
    """One engine call on ``rows``; refuses an answer of the wrong length."""
    proba = np.asarray(engine.predict_proba(columns_of(rows)), dtype=float)
    if proba.shape != (len(rows),):
        raise ValueError(f"engine returned shape {proba.shape} for {len(rows)} rows")
    return proba


# ------------------------------------------------------------------ columnar batches
class _Columns(BaseModel):
    """Base of :data:`ColumnBatch`: strict values, no unknown column."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def unequal_columns(batch: BaseModel) -> str | None:
    """Why the columns of ``batch`` cannot be rows (lengths differ), or None.

    Checked in the route, not by a validator: a validator's 422 would echo the
    whole body back as its ``input``.
    """
    lengths = {name: len(values) for name, values in batch}
    if len(set(lengths.values())) <= 1:
        return None
    common = Counter(lengths.values()).most_common(1)[0][0]
    odd = ", ".join(f"{n}={k}" for n, k in lengths.items() if k != common)
    return f"every column needs the same length ({common} rows); got {odd}"


def _column(name: str) -> Any:
    """A list of ``Application.<name>`` values, with that field's own constraints."""
    info = Application.model_fields[name]
    value = info.annotation
    if info.metadata:
        value = Annotated[(value, *info.metadata)]
    return (
        list[value],
        Field(min_length=1, max_length=MAX_BATCH_ROWS, description=info.description),
    )


#: A batch sent column by column: ``{"age": [...], "annual_income": [...], ...}``,
#: one list per feature, each value checked as :class:`Application` checks it.
#: The body is 13 lists instead of N objects: no key repeated per row, and
#: pydantic validates each list in one pass.
ColumnBatch = create_model(
    "ColumnBatch",
    __base__=_Columns,
    __doc__="A batch of applications, one list per feature, all of equal length.",
    **{name: _column(name) for name in Application.model_fields},
)


# --------------------------------------------------------------------------- the app
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


def served_model(name: str, request: Request) -> LoadedModel:
    """Dependency: the named model, a 404 if unknown, a 503 if it did not load."""
    state = request.app.state
    if name not in state.settings:
        known = ", ".join(sorted(state.settings))
        raise HTTPException(404, f"no model named {name!r}; served: {known}")
    model = state.models.get(name)
    if model is None:
        reason = state.errors.get(name, "not started")
        raise HTTPException(503, f"model {name!r} not loaded: {reason}")
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


def create_app(
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
        responses={**not_found, 503: ERRORS[503]},
    )
    async def model_metadata(model: Served) -> Metadata:
        """Which model answers under this name."""
        return model.metadata()

    @app.post(
        "/models/{name}/predict",
        response_model=Prediction,
        responses={**ERRORS, **not_found},
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
        responses={**ERRORS, **not_found},
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
        responses=ERRORS,
        dependencies=[content_type(JSON)],
    )
    async def predict(application: Application, request: Request) -> Prediction:
        """Score one application with the first model (as chapter 5's ``/predict``)."""
        model = served_model(default, request)
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


def app_from_env() -> FastAPI:
    """Uvicorn factory: ``mlops_course.serving.batching:app_from_env --factory``."""
    if not logging.getLogger().handlers:  # the process entry point: logs to stderr
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s"
        )
    return create_app(models_from_env(), BatchSettings.from_env())


def uvicorn_command(*extra: str, access_log: bool = True) -> list[str]:
    """The argument list running this service with uvicorn on ``{port}``."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "mlops_course.serving.batching:app_from_env",
    ]
    argv += ["--factory", "--host", "127.0.0.1", "--port", "{port}"]
    if not access_log:
        argv.append("--no-access-log")
    return [*argv, *extra]
