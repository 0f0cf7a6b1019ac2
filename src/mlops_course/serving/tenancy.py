"""One serving process for many teams: tenants, aliases, a model cache, quotas.

Chapter 16 writes a small version of each mechanism in the notebook first, then
uses this tested one. Opt-in, beside chapter 5's ``serving.create_app`` and
chapter 15's ``batching.create_app``, which it leaves unchanged.

The mechanisms have their own modules: the tenants' models and aliases in
:mod:`~mlops_course.serving.tenant_catalogue`, the least-recently-used model
cache in :mod:`~mlops_course.serving.model_cache`, the per-tenant quotas and
their 429 middleware in :mod:`~mlops_course.serving.quotas`. This module holds
the per-tenant metrics and the app that wires them:

- :func:`create_app` serves ``POST /v1/{tenant}/{model}/predict`` (the
  tenant's ``champion`` alias unless ``?alias=`` says otherwise),
  ``GET /v1/{tenant}/models``, ``/health``, ``/cache`` and ``/metrics``.
  Unknown tenants, models and aliases are 404s naming what was asked for; a 404
  for a tenant never lists the other tenants. Metrics carry ``tenant`` and
  ``model`` labels, only ever with names from the catalogue (an unknown name is
  counted as ``unknown``, so a scan of random URLs cannot grow the label set).

The tenant comes from the URL here; behind a real gateway it comes from the
caller's credentials, and the gateway refuses a URL naming another tenant.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field

from mlops_course.serving.app import (
    MODEL_NAME_HEADER,
    MODEL_VERSION_HEADER,
    apply_contract,
    with_model_headers,
)
from mlops_course.serving.engines import OnnxEngine
from mlops_course.serving.loading import metadata_path
from mlops_course.serving.metrics import LATENCY_BUCKETS
from mlops_course.serving.model_cache import ModelCache
from mlops_course.serving.quotas import (
    ENV_QUOTAS,
    Quota,
    QuotaGate,
    Quotas,
    quotas_from_json,
)
from mlops_course.serving.schemas import Application, columns_of
from mlops_course.serving.tenant_catalogue import (
    DEFAULT_ALIAS,
    MODEL_FILE,
    Catalogue,
    NotFound,
)

#: The label value of a tenant or model that is not in the catalogue.
UNKNOWN = "unknown"
ENV_CATALOGUE = "MLOPS_TENANCY_CATALOGUE"
ENV_BUDGET = "MLOPS_TENANCY_BUDGET_MB"
#: This module's uvicorn factory (for ``launch.uvicorn_command(factory=...)``).
UVICORN_FACTORY = "mlops_course.serving.tenancy:app_from_env"


# ------------------------------------------------------------------ metrics
@dataclass(frozen=True)
class TenantMetrics:
    """Per-tenant service metrics in one registry."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    throttled: Counter
    cache_bytes: Gauge
    cache_models: Gauge
    cache_loads: Counter
    cache_evictions: Counter


def make_metrics(registry: CollectorRegistry | None = None) -> TenantMetrics:
    """The tenancy service's metrics (a new registry by default)."""
    registry = CollectorRegistry() if registry is None else registry
    return TenantMetrics(
        registry=registry,
        requests=Counter(
            "tenant_requests",
            "Prediction requests answered, by tenant, model and status code.",
            ["tenant", "model", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "tenant_request_latency_seconds",
            "Time to answer a prediction request, by tenant.",
            ["tenant"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        throttled=Counter(
            "tenant_throttled",
            "Requests refused with 429 because the tenant was over its quota.",
            ["tenant"],
            registry=registry,
        ),
        cache_bytes=Gauge(
            "model_cache_bytes", "Bytes of the models loaded.", registry=registry
        ),
        cache_models=Gauge("model_cache_models", "Models loaded.", registry=registry),
        cache_loads=Counter(
            "model_cache_loads",
            "Models loaded into the cache, by tenant.",
            ["tenant"],
            registry=registry,
        ),
        cache_evictions=Counter(
            "model_cache_evictions",
            "Models evicted from the cache, by tenant.",
            ["tenant"],
            registry=registry,
        ),
    )


# ------------------------------------------------------------------ the app
@dataclass(frozen=True)
class TenancySettings:
    """Where the catalogue is, the cache budget and the quotas."""

    catalogue: Path
    budget_mb: float = 256.0
    quotas: Mapping[str, Quota] = field(default_factory=dict)

    def to_env(self) -> dict[str, str]:
        """The settings as the service's environment variables."""
        return {
            ENV_CATALOGUE: str(self.catalogue),
            ENV_BUDGET: str(self.budget_mb),
            **Quotas(self.quotas).to_env(),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TenancySettings:
        """The settings from ``env`` (``os.environ`` by default)."""
        env = os.environ if env is None else env
        return cls(
            catalogue=Path(env[ENV_CATALOGUE]),
            budget_mb=float(env.get(ENV_BUDGET, "256")),
            quotas=quotas_from_json(env.get(ENV_QUOTAS, "")),
        )


class TenantPrediction(BaseModel):
    """The answer: whose model, which version, the probability and the decision."""

    tenant: str
    model: str
    alias: str
    version: int
    probability_of_default: float = Field(ge=0, le=1)
    decision: str


@dataclass(frozen=True)
class ServedModel:
    """An engine and the threshold that travels with it."""

    engine: OnnxEngine
    threshold: float


def load_version(path: Path) -> tuple[ServedModel, int]:
    """An ONNX file and its metadata as a :class:`ServedModel`, and its size."""
    data = path.read_bytes()
    meta = json.loads(metadata_path(path).read_text())
    return ServedModel(OnnxEngine(data), float(meta["decision_threshold"])), len(data)


def create_app(settings: TenancySettings) -> FastAPI:
    """The multi-tenant, multi-model service for ``settings``."""
    catalogue = Catalogue(settings.catalogue)
    quotas = Quotas(settings.quotas)
    metrics = make_metrics()

    def load(key: Hashable) -> tuple[ServedModel, int]:
        tenant, model, version = key  # type: ignore[misc]
        path = catalogue.root / tenant / model / str(version) / MODEL_FILE
        loaded = load_version(path)
        metrics.cache_loads.labels(tenant).inc()
        return loaded

    cache = ModelCache(int(settings.budget_mb * 2**20), load)
    cache.on_evict = lambda key: metrics.cache_evictions.labels(key[0]).inc()

    app = FastAPI(
        title="Kestrel Credit model platform",
        summary="One process, many teams' models: /v1/{tenant}/{model}/predict.",
    )
    apply_contract(app)

    def count_refusal(tenant: str, model: str) -> None:
        label = model if catalogue.has_model(tenant, model) else UNKNOWN
        metrics.throttled.labels(tenant).inc()
        metrics.requests.labels(tenant, label, "429").inc()

    app.add_middleware(
        QuotaGate, catalogue=catalogue, quotas=quotas, on_refuse=count_refusal
    )
    app.state.catalogue, app.state.cache, app.state.quotas = catalogue, cache, quotas
    app.state.metrics = metrics

    def refuse(status: int, detail: str, tenant: str, model: str) -> JSONResponse:
        metrics.requests.labels(tenant, model, str(status)).inc()
        return JSONResponse({"detail": detail}, status)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Alive (models load on first use, so there is nothing else to wait for)."""
        return {"status": "ok"}

    @app.get("/cache")
    async def cache_state() -> dict[str, Any]:
        """The cache: budget, bytes used, models held (least recently used first)."""
        return {
            "budget_bytes": cache.budget,
            "used_bytes": cache.used,
            "models": [list(k) for k in cache.held()],  # type: ignore[arg-type]
            **cache.stats.as_dict(),
        }

    @app.get("/v1/{tenant}/models")
    async def tenant_models(tenant: str) -> Any:
        """The tenant's models and their aliases."""
        try:
            return {m: catalogue.aliases(tenant, m) for m in catalogue.models(tenant)}
        except NotFound as error:
            return JSONResponse({"detail": str(error)}, 404)

    @app.post(
        "/v1/{tenant}/{model}/predict",
        response_model=TenantPrediction,
        responses=with_model_headers({404: {}, 429: {}}),
    )
    async def predict(
        tenant: str,
        model: str,
        application: Application,
        response: Response,
        alias: str = DEFAULT_ALIAS,
    ) -> Any:
        """Score one application with the tenant's model (its ``alias`` version)."""
        started = time.perf_counter()
        if not catalogue.has_tenant(tenant):
            return refuse(404, f"unknown tenant {tenant!r}", UNKNOWN, UNKNOWN)
        # (a tenant over its quota never gets here: QuotaGate answered 429)
        try:
            version, _ = catalogue.resolve(tenant, model, alias)
        except NotFound as error:
            known = model if catalogue.has_model(tenant, model) else UNKNOWN
            return refuse(404, str(error), tenant, known)
        served = cache.get((tenant, model, version))
        metrics.cache_bytes.set(cache.used)
        metrics.cache_models.set(len(cache.held()))
        p = float(served.engine.predict_proba(columns_of([application]))[0])
        metrics.requests.labels(tenant, model, "200").inc()
        metrics.latency.labels(tenant).observe(time.perf_counter() - started)
        response.headers[MODEL_NAME_HEADER] = f"{tenant}/{model}"
        response.headers[MODEL_VERSION_HEADER] = str(version)
        return TenantPrediction(
            tenant=tenant,
            model=model,
            alias=alias,
            version=version,
            probability_of_default=p,
            decision="reject" if p >= served.threshold else "approve",
        )

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    async def no_such_route(rest: str) -> JSONResponse:
        """Any other /v1 path (a name with a slash in it, a missing part): a 404."""
        return refuse(
            404,
            f"no route /v1/{rest}: use /v1/{{tenant}}/{{model}}/predict",
            UNKNOWN,
            UNKNOWN,
        )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        """The metrics in Prometheus' text format."""
        return Response(
            generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    return app


def app_from_env() -> FastAPI:
    """Uvicorn factory: ``mlops_course.serving.tenancy:app_from_env --factory``."""
    return create_app(TenancySettings.from_env())
