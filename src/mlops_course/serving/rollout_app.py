"""The rollout service: a primary model and a challenger, split, shadowed or canaried.

Chapter 12 uses it. :func:`create_rollout_app` is an app factory next to
``serving.create_app`` (which it leaves untouched): it loads a *primary* and a
*challenger* model with the service's own loader, serves the service's own
contract (``serving.rollout_schemas``), and puts the policy's parts together:

- **sticky assignment** (``serving.assignment``): a customer keeps the same
  variant across requests and restarts;
- **shadow mode** (``serving.shadow``): after the primary has answered, a copy
  of the request is scored by the challenger off the request path and logged;
- **canary** (``serving.canary``): the challenger's share is stepped up, or
  rolled back, on the evidence of both variants' calls;
- a challenger that fails while serving a customer (error or timeout) is
  replaced by the primary for that request: the customer gets an answer, and
  the response says both the variant ``assigned`` and the one it was
  ``served_by``.

:func:`rollout_app_from_env` builds it from the JSON config file named by
``MLOPS_ROLLOUT_CONFIG`` (a :class:`RolloutConfig`); run it with
``launch.uvicorn_command(factory=UVICORN_FACTORY)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_course.serving.app import (
    apply_contract,
    content_type,
    name_models,
    with_model_headers,
)
from mlops_course.serving.assignment import CHALLENGER, PRIMARY, assign
from mlops_course.serving.canary import Canary, CanaryPlan
from mlops_course.serving.launch import log_to_stderr
from mlops_course.serving.loading import LoadedModel, ModelLoadError, load_model
from mlops_course.serving.rollout_schemas import (
    CustomerId,
    RolloutBatchPrediction,
    RolloutBatchRequest,
    RolloutPrediction,
    RolloutStatus,
    VariantCounts,
)
from mlops_course.serving.schemas import (
    ERRORS,
    JSON,
    Application,
    Metadata,
    Status,
    columns_of,
)
from mlops_course.serving.settings import Settings
from mlops_course.serving.shadow import ShadowMirror

logger = logging.getLogger("mlops_course.serving.rollout")  # the rollout's log

#: The environment variable naming the rollout app's JSON config file.
CONFIG_ENV = "MLOPS_ROLLOUT_CONFIG"
#: This module's uvicorn factory (for ``uvicorn_command(factory=...)``).
UVICORN_FACTORY = "mlops_course.serving.rollout_app:rollout_app_from_env"


class RolloutPolicy(BaseModel):
    """Who answers: a fixed split (A/B), a shadow copy, or a canary plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    salt: str = Field("rollout", min_length=1, description="Experiment's hash salt.")
    challenger_share: float = Field(0.0, ge=0, le=1)
    shadow: bool = False
    canary: CanaryPlan | None = None
    challenger_timeout: float = Field(0.25, gt=0, description="Seconds, when serving.")
    shadow_timeout: float = Field(0.5, gt=0, description="Seconds, shadow copies.")
    shadow_queue: int = Field(1_000, ge=1)
    shadow_log: Path | None = None

    @model_validator(mode="after")
    def _one_share(self) -> RolloutPolicy:
        if self.canary is not None and self.challenger_share:
            raise ValueError("a canary sets the share itself: leave challenger_share 0")
        return self

    @property
    def mode(self) -> str:
        """``canary``, ``ab``, ``shadow``, ``ab+shadow`` or ``primary only``."""
        if self.canary is not None:
            return "canary+shadow" if self.shadow else "canary"
        served = "ab" if self.challenger_share else ""
        return "+".join(filter(None, [served, "shadow" if self.shadow else ""])) or (
            "primary only"
        )


class RolloutConfig(BaseModel):
    """The rollout app's config file: two models and a policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary: Settings
    challenger: Settings
    policy: RolloutPolicy = RolloutPolicy()


class _Rollout:
    """The rollout's live state, kept on ``app.state.rollout``."""

    def __init__(
        self,
        primary: LoadedModel,
        challenger: LoadedModel,
        policy: RolloutPolicy,
        clock: Callable[[], float],
    ) -> None:
        self.primary = primary
        self.challenger = challenger
        self.policy = policy
        self.canary = Canary(policy.canary, clock=clock) if policy.canary else None
        self.mirror = (
            ShadowMirror(
                challenger,
                timeout=policy.shadow_timeout,
                max_queue=policy.shadow_queue,
                log_path=policy.shadow_log,
            )
            if policy.shadow
            else None
        )
        self.served: Counter[str] = Counter()
        self.request_ids = iter(range(1, 2**62))

    @property
    def share(self) -> float:
        return self.canary.share if self.canary else self.policy.challenger_share

    def model(self, variant: str) -> LoadedModel:
        return self.challenger if variant == CHALLENGER else self.primary

    async def challenger_scores(self, columns: dict[str, list]) -> np.ndarray | None:
        """The challenger's scores, or None if it failed or overran (counted)."""
        started = time.perf_counter()
        timed: list[float] = []

        def call() -> np.ndarray:  # timed in its thread, as the primary is inline
            begun = time.perf_counter()
            try:
                return self.challenger.engine.predict_proba(columns)
            finally:
                timed.append((time.perf_counter() - begun) * 1000)

        try:
            proba = await asyncio.wait_for(
                asyncio.to_thread(call), self.policy.challenger_timeout
            )
            ok = True
        except Exception as exc:  # includes TimeoutError: the primary answers instead
            logger.warning("challenger failed, primary answers: %s", exc)
            proba, ok = None, False
            self.served["challenger_failures"] += 1
        ms = timed[0] if timed else (time.perf_counter() - started) * 1000
        self.judge(CHALLENGER, ok, ms)
        return proba

    def primary_scores(self, columns: dict[str, list]) -> np.ndarray:
        """The primary's scores; a running canary sees the call as its baseline."""
        started = time.perf_counter()
        ok = False
        try:
            proba = self.primary.engine.predict_proba(columns)
            ok = True
            return proba
        finally:
            self.judge(PRIMARY, ok, (time.perf_counter() - started) * 1000)

    def judge(self, variant: str, ok: bool, ms: float) -> None:
        """Report one call to the canary (if any) and let it decide."""
        if self.canary is None or self.canary.state != "running":
            return
        self.canary.observe(variant, ok, ms)
        decision = self.canary.evaluate()
        if decision.action != "hold":
            logger.info("canary %s: %s", decision.action, decision.reason)

    def status(self) -> RolloutStatus:
        canary = self.canary
        return RolloutStatus(
            mode=self.policy.mode,
            salt=self.policy.salt,
            challenger_share=self.share,
            served=VariantCounts(
                primary=self.served[PRIMARY],
                challenger=self.served[CHALLENGER],
                challenger_failures=self.served["challenger_failures"],
            ),
            canary_state=canary.state if canary else None,
            canary_window=canary.window_stats() if canary else None,
            canary_history=[d.reason for d in canary.history] if canary else [],
            shadow=dict(self.mirror.counts) if self.mirror else {},
        )


def _loaded(model: Settings | LoadedModel) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


def create_rollout_app(
    primary: Settings | LoadedModel,
    challenger: Settings | LoadedModel,
    policy: RolloutPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The model service with a challenger beside the primary, as ``policy`` says.

    Settings load with the service's loader when the app starts (a
    :class:`LoadedModel` is used as it is). Routes: ``/health``, ``/ready``,
    ``/metadata`` (both models), ``/rollout`` (status), ``POST /predict`` (header
    ``X-Customer-Id``) and ``POST /predict/batch`` (``customer_ids`` in the body).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            app.state.rollout = _Rollout(
                _loaded(primary), _loaded(challenger), policy, clock
            )
            app.state.rollout_error = None
        except ModelLoadError as exc:
            app.state.rollout_error = str(exc)
            logger.error("rollout not ready: %s", exc)
        yield
        if app.state.rollout is not None and app.state.rollout.mirror is not None:
            app.state.rollout.mirror.close()
        app.state.rollout = None

    app = FastAPI(
        title="Credit-default model service: safe rollout",
        version="2.0",
        summary="A primary model and a challenger: A/B split, shadow, canary.",
        lifespan=lifespan,
    )
    apply_contract(app)
    app.state.rollout = None
    app.state.rollout_error = "not started"

    def live(request: Request) -> _Rollout:
        rollout = request.app.state.rollout
        if rollout is None:
            raise HTTPException(
                503, f"models not loaded: {request.app.state.rollout_error}"
            )
        return rollout

    @app.get("/health", response_model=Status, response_model_exclude_none=True)
    async def health() -> Status:
        """The process is up."""
        return Status(status="ok")

    @app.get("/ready", response_model=Status, responses={503: ERRORS[503]})
    async def ready(request: Request) -> Status:
        """200 once both models are loaded."""
        return Status(status="ready", model_version=live(request).primary.version)

    @app.get("/metadata", response_model=dict[str, Metadata])
    async def metadata(request: Request) -> dict[str, Metadata]:
        """Both models: name, version, source, data hash, engine, threshold."""
        rollout = live(request)
        return {v: rollout.model(v).metadata() for v in (PRIMARY, CHALLENGER)}

    @app.get("/rollout", response_model=RolloutStatus, responses={503: ERRORS[503]})
    async def rollout_status(request: Request) -> RolloutStatus:
        """Mode, current challenger share, answers per variant, canary, shadow."""
        return live(request).status()

    @app.post(
        "/predict",
        response_model=RolloutPrediction,
        responses=with_model_headers(ERRORS),
        dependencies=[content_type(JSON)],
    )
    async def predict(
        application: Application,
        customer_id: CustomerId,
        request: Request,
        response: Response,
    ) -> RolloutPrediction:
        """Score one application for the variant this customer is assigned to."""
        rollout = live(request)
        columns = columns_of([application])
        assigned = assign(customer_id, rollout.policy.salt, rollout.share)
        served_by, proba = assigned, None
        if assigned == CHALLENGER:
            proba = await rollout.challenger_scores(columns)
            if proba is None:
                served_by = PRIMARY
        if proba is None:
            proba = rollout.primary_scores(columns)
        rollout.served[served_by] += 1
        model = rollout.model(served_by)
        name_models(response, [model])
        p = float(proba[0])
        if rollout.mirror is not None and assigned == PRIMARY:
            rollout.mirror.submit(
                next(rollout.request_ids), [customer_id], columns, [p]
            )
        return RolloutPrediction(
            probability_of_default=p,
            decision="reject" if p >= model.threshold else "approve",
            threshold=model.threshold,
            model_version=model.version,
            assigned=assigned,
            served_by=served_by,
        )

    @app.post(
        "/predict/batch",
        response_model=RolloutBatchPrediction,
        responses=with_model_headers(ERRORS),
        dependencies=[content_type(JSON)],
    )
    async def predict_batch(
        batch: RolloutBatchRequest, request: Request, response: Response
    ) -> RolloutBatchPrediction:
        """Score a batch, each row by the variant its customer is assigned to."""
        rollout = live(request)
        share, salt = rollout.share, rollout.policy.salt
        assigned = np.array([assign(c, salt, share) for c in batch.customer_ids])
        served_by = assigned.copy()  # a failed challenger call: the primary answers
        proba = np.empty(len(assigned))
        rows = np.flatnonzero(assigned == CHALLENGER)
        if len(rows):
            picked = columns_of([batch.applications[i] for i in rows])
            scores = await rollout.challenger_scores(picked)
            if scores is None:
                served_by[rows] = PRIMARY
            else:
                proba[rows] = scores
        rows = np.flatnonzero(served_by == PRIMARY)
        if len(rows):
            picked = columns_of([batch.applications[i] for i in rows])
            proba[rows] = rollout.primary_scores(picked)
        rows = np.flatnonzero(assigned == PRIMARY)
        if len(rows) and rollout.mirror is not None:
            customers = [batch.customer_ids[i] for i in rows]
            picked = columns_of([batch.applications[i] for i in rows])
            rid = next(rollout.request_ids)
            rollout.mirror.submit(rid, customers, picked, proba[rows].tolist())
        rollout.served.update(served_by.tolist())
        thresholds = np.where(
            served_by == CHALLENGER,
            rollout.challenger.threshold,
            rollout.primary.threshold,
        )
        versions = {v: rollout.model(v).version for v in (PRIMARY, CHALLENGER)}
        name_models(response, [rollout.model(v) for v in dict.fromkeys(served_by)])
        return RolloutBatchPrediction(
            probability_of_default=proba.tolist(),
            decision=np.where(proba >= thresholds, "reject", "approve").tolist(),
            assigned=assigned.tolist(),
            served_by=served_by.tolist(),
            model_version=[versions[v] for v in served_by.tolist()],
            n_rows=len(proba),
        )

    return app


def rollout_app_from_env() -> FastAPI:
    """Uvicorn factory: the JSON config file named by ``MLOPS_ROLLOUT_CONFIG``."""
    log_to_stderr()
    path = os.environ.get(CONFIG_ENV, "")
    if not path:
        raise RuntimeError(f"set {CONFIG_ENV} to the rollout's JSON config file")
    config = RolloutConfig.model_validate_json(Path(path).read_text(encoding="utf-8"))
    return create_rollout_app(config.primary, config.challenger, config.policy)


__all__ = [
    "CONFIG_ENV",
    "UVICORN_FACTORY",
    "RolloutConfig",
    "RolloutPolicy",
    "create_rollout_app",
    "rollout_app_from_env",
]
