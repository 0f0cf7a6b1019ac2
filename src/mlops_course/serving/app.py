"""The FastAPI app: routes, and a 4xx for every malformed request.

Chapters 5-7 start it; see the package docstring for what it does and why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import numpy as np
import pydantic_core
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from mlops_course.serving.arrow import columns_from_arrow
from mlops_course.serving.launch import log_to_stderr
from mlops_course.serving.loading import LoadedModel, ModelLoadError, load_model
from mlops_course.serving.reload import install_reload
from mlops_course.serving.schemas import (
    ARROW_STREAM,
    ERRORS,
    JSON,
    MAX_BODY_BYTES,
    Application,
    BatchPrediction,
    BatchRequest,
    Metadata,
    Prediction,
    Status,
    columns_of,
)
from mlops_course.serving.settings import Settings

logger = logging.getLogger("mlops_course.serving")


# --------------------------------------------------------------------------- the app
#: Response headers naming the model that answered (chapter 18: lineage starts here).
MODEL_NAME_HEADER = "X-Model-Name"
MODEL_VERSION_HEADER = "X-Model-Version"
#: How the OpenAPI document declares them on a route's 200 answer.
MODEL_HEADERS = {
    MODEL_NAME_HEADER: {
        "description": "Registered name of the model that answered.",
        "schema": {"type": "string"},
    },
    MODEL_VERSION_HEADER: {
        "description": "Its version: the registry's number, or a file's digest.",
        "schema": {"type": "string"},
    },
}


def loaded_model(request: Request, response: Response) -> LoadedModel:
    """Dependency: the loaded model, or a 503 with the reason it is not there.

    Every answer it serves names the model in two headers, :data:`MODEL_NAME_HEADER`
    and :data:`MODEL_VERSION_HEADER`: the model object the request used, so a
    reload between two requests never mislabels an answer.
    """
    model = request.app.state.model
    if model is None:
        raise HTTPException(503, f"model not loaded: {request.app.state.model_error}")
    name_models(response, [model])
    return model


def name_models(response: Response, models) -> None:
    """Set the two model headers from the models that answered, in order.

    A batch that two models answered (a canary) names both, comma-separated
    (HTTP's list form), in the order of the ``models`` given; the body's
    per-row ``model_version`` says which row each answered.
    """
    models = list(dict.fromkeys((m.name, m.version) for m in models))
    response.headers[MODEL_NAME_HEADER] = ", ".join(dict.fromkeys(n for n, _ in models))
    response.headers[MODEL_VERSION_HEADER] = ", ".join(v for _, v in models)


def with_model_headers(responses: dict) -> dict:
    """``responses`` plus a 200 whose documented headers name the model."""
    return {**responses, 200: {"headers": MODEL_HEADERS}}


def content_type(*accepted: str):
    """Dependency: a 415 unless the request's content type is one of ``accepted``."""

    def check(request: Request) -> None:
        given = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if given not in accepted:
            shown = " or ".join(accepted)
            raise HTTPException(415, f"send {shown}, not {given or 'no content type'}")

    return Depends(check)


#: A route parameter: the loaded model, or a 503 (:func:`loaded_model`).
ReadyModel = Annotated[LoadedModel, Depends(loaded_model)]


_WHERE = re.compile(r"line (\d+) column (\d+)")


class FastJSONRequest(Request):
    """A request whose JSON body is parsed by pydantic-core's parser.

    Speed-up, measured: on a 1,000-row batch ``json.loads`` (what FastAPI calls)
    takes about 3 ms, ``pydantic_core.from_json`` under 1 ms. Everything else stays
    FastAPI's: the body parameter, its validation and the generated OpenAPI.
    Failures keep their meaning: bad UTF-8 and deep nesting are 400s, bad JSON
    a 422 ``json_invalid``.
    """

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            text = (await self.body()).decode("utf-8")  # UnicodeDecodeError: a 400
            try:
                self._json = pydantic_core.from_json(text)
            except ValueError as exc:
                message = str(exc)
                if message.startswith("recursion limit"):
                    raise RecursionError(message) from exc
                found = _WHERE.search(message)
                line, column = (int(g) for g in found.groups()) if found else (1, 1)
                start = sum(len(row) + 1 for row in text.split("\n")[: line - 1])
                reason = message.split(" at line")[0]
                raise json.JSONDecodeError(reason, text, start + column - 1) from exc
        return self._json


class FastJSONRoute(APIRoute):
    """FastAPI's documented hook for a custom request class (here: its JSON parser)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_pydantic_core(request: Request) -> Response:
            return await handler(FastJSONRequest(request.scope, request.receive))

        return parse_with_pydantic_core


async def body_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's generic 400 for a body it could not parse, made to say why."""
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
        where = f"byte {cause.object[cause.start]:#04x} at position {cause.start}"
        return JSONResponse({"detail": f"body is not valid UTF-8 ({where})"}, 400)
    if exc.status_code == 400 and isinstance(cause, RecursionError):
        return JSONResponse({"detail": "body JSON is nested too deeply"}, 400)
    return await http_exception_handler(request, exc)


#: At most this many validation errors are returned (a bad 10,000-row batch has many).
MAX_ERRORS_SHOWN = 20


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as text (JSON has no NaN or Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def invalid_body(request: Request, exc: Exception) -> JSONResponse:
    """A 422 listing the first errors, each with the field (``loc``) and the input."""
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    shown = _json_safe(errors[:MAX_ERRORS_SHOWN])
    if len(errors) > MAX_ERRORS_SHOWN:
        hidden = f"{len(errors) - MAX_ERRORS_SHOWN} more errors not shown"
        shown.append({"type": "too_many_errors", "loc": ["body"], "msg": hidden})
    return JSONResponse({"detail": shown}, status_code=422)


def apply_contract(
    app: FastAPI,
    on_invalid: Callable[[Request, Exception], Coroutine[Any, Any, Response]] = (
        invalid_body
    ),
) -> None:
    """The service's request contract on ``app`` (chapters 5, 12, 15 share it).

    Starlette's body limit (413, counted as the body streams in), the fast JSON
    route class, clear 400/415/422 answers, and a 500 that never shows internals.
    """
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    app.router.route_class = FastJSONRoute
    app.add_exception_handler(StarletteHTTPException, body_error)
    app.add_exception_handler(RequestValidationError, on_invalid)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def create_app(settings: Settings) -> FastAPI:
    """The model service for ``settings``; the model loads when the app starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            app.state.model = load_model(settings)
            app.state.model_error = None
            logger.info("model loaded: %s", app.state.model.metadata().model_dump())
        except ModelLoadError as exc:
            app.state.model_error = str(exc)
            logger.error(
                "model not loaded: %s", exc, exc_info=exc.__cause__ is not None
            )
        yield
        app.state.model = None

    app = FastAPI(
        title="Credit-default model service",
        version="2.0",
        summary="Probability that a loan application defaults, and the decision.",
        lifespan=lifespan,
    )
    apply_contract(app)
    app.state.model = None
    app.state.model_error = "not started"

    @app.get("/health", response_model=Status, response_model_exclude_none=True)
    async def health() -> Status:
        """The process is up (it says nothing about the model)."""
        return Status(status="ok")

    @app.get(
        "/ready",
        response_model=Status,
        responses=with_model_headers({503: ERRORS[503]}),
    )
    async def ready(model: ReadyModel) -> Status:
        """200 once the model is loaded and can answer, else 503 with the reason."""
        return Status(status="ready", model_version=model.version)

    @app.get(
        "/metadata",
        response_model=Metadata,
        responses=with_model_headers({503: ERRORS[503]}),
    )
    async def metadata(model: ReadyModel) -> Metadata:
        """Which model answers: name, version, source, training data hash, engine."""
        return model.metadata()

    @app.post(
        "/predict",
        response_model=Prediction,
        responses=with_model_headers(ERRORS),
        dependencies=[content_type(JSON)],
    )
    async def predict(application: Application, model: ReadyModel) -> Prediction:
        """Score one application (a JSON object of the 13 features)."""
        p = float(model.engine.predict_proba(columns_of([application]))[0])
        return Prediction(
            probability_of_default=p,
            decision="reject" if p >= model.threshold else "approve",
            threshold=model.threshold,
            model_version=model.version,
        )

    def answer(model: LoadedModel, proba: np.ndarray) -> BatchPrediction:
        return BatchPrediction.scored(
            proba, threshold=model.threshold, model_version=model.version
        )

    @app.post(
        "/predict/batch",
        response_model=BatchPrediction,
        responses=with_model_headers(ERRORS),
        dependencies=[content_type(JSON)],
    )
    async def predict_batch(batch: BatchRequest, model: ReadyModel) -> BatchPrediction:
        """Score up to 10,000 applications sent as ``{"applications": [...]}``."""
        return answer(model, model.engine.predict_proba(columns_of(batch.applications)))

    arrow_body = {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}

    @app.post(
        "/predict/batch/arrow",
        response_model=BatchPrediction,
        responses=with_model_headers(ERRORS),
        dependencies=[content_type(ARROW_STREAM)],
        openapi_extra={"requestBody": {"required": True, "content": arrow_body}},
    )
    async def predict_batch_arrow(
        request: Request, model: ReadyModel
    ) -> BatchPrediction:
        """Score a batch sent as an Arrow IPC stream, one column per feature."""
        columns = columns_from_arrow(await request.body())
        return answer(model, model.engine.predict_proba(columns))

    if settings.feast_repo is not None:  # chapter 9: features looked up by id
        from mlops_course.serving.feast_lookup import install_feast

        install_feast(app, settings)
    if settings.metrics:  # opt-in (chapter 13): routes and OpenAPI otherwise unchanged
        from mlops_course.serving.metrics import instrument

        instrument(app)
    install_reload(app, settings)  # POST /admin/reload, only if settings.allow_reload
    return app


def app_from_env() -> FastAPI:
    """Uvicorn factory (``launch.APP_FACTORY``): :class:`Settings` from ``MLOPS_*``."""
    log_to_stderr()
    return create_app(Settings.from_env())
