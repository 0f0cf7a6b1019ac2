"""One serving process for many teams: tenants, aliases, a model cache, quotas.

Chapter 16 writes a small version of each mechanism in the notebook first, then
uses this tested one. Opt-in, beside chapter 5's ``serving.create_app`` and
chapter 15's ``batching.create_app``, which it leaves unchanged.

- :class:`Catalogue` is the folder a platform's deploy step fills, one
  sub-folder per tenant and model::

      <root>/<tenant>/<model>/aliases.json        {"champion": 3, "challenger": 4}
      <root>/<tenant>/<model>/<version>/model.onnx (+ model.onnx.metadata.json)

  Names are checked against :data:`NAME` before any path is built, so a name
  such as ``../other-team`` is an unknown name (404), never a path.
- :class:`ModelCache` keeps loaded models in least-recently-used order within a
  memory budget: a model's cost is its ONNX file's size (the weights ONNX
  Runtime holds), and loading one that does not fit evicts the least recently
  used until it does.
- :class:`TokenBucket` and :class:`Quotas`: each tenant has ``rate`` requests
  per second with bursts up to ``burst``; a request over it gets a 429 with a
  ``Retry-After`` header (whole seconds, at least 1, as HTTP requires),
  answered by a middleware before routing and body validation, so a flood
  over the quota costs the server as little as possible.
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
import math
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
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

from mlops_course.serving.app import apply_contract
from mlops_course.serving.engines import OnnxEngine
from mlops_course.serving.loading import metadata_path
from mlops_course.serving.metrics import LATENCY_BUCKETS
from mlops_course.serving.schemas import Application, columns_of

#: Tenant, model and alias names: lowercase letters, digits and inner hyphens.
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_ALIAS = "champion"
MODEL_FILE = "model.onnx"
ALIASES_FILE = "aliases.json"
#: The label value of a tenant or model that is not in the catalogue.
UNKNOWN = "unknown"
ENV_CATALOGUE = "MLOPS_TENANCY_CATALOGUE"
ENV_BUDGET = "MLOPS_TENANCY_BUDGET_MB"
ENV_QUOTAS = "MLOPS_TENANCY_QUOTAS"


class NotFound(LookupError):
    """A tenant, model or alias that the catalogue does not have; the 404's text."""


class DoesNotFit(RuntimeError):
    """A model larger than the whole cache budget."""


# ------------------------------------------------------------------ catalogue
class Catalogue:
    """Tenants' models and aliases in a folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def tenants(self) -> list[str]:
        """The tenants with at least one model folder."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if NAME.match(p.name))

    def _tenant_dir(self, tenant: str) -> Path:
        folder = self.root / tenant
        if not NAME.match(tenant) or not folder.is_dir():
            raise NotFound(f"unknown tenant {tenant!r}")
        return folder

    def has_tenant(self, tenant: str) -> bool:
        """True when ``tenant`` is a valid name with a folder."""
        return bool(NAME.match(tenant)) and (self.root / tenant).is_dir()

    def has_model(self, tenant: str, model: str) -> bool:
        """True when the tenant has a model of that name."""
        return (
            self.has_tenant(tenant)
            and bool(NAME.match(model))
            and (self.root / tenant / model / ALIASES_FILE).is_file()
        )

    def models(self, tenant: str) -> list[str]:
        """The tenant's model names."""
        folder = self._tenant_dir(tenant)
        return sorted(
            p.name
            for p in folder.iterdir()
            if NAME.match(p.name) and (p / ALIASES_FILE).is_file()
        )

    def aliases(self, tenant: str, model: str) -> dict[str, int]:
        """The model's aliases and the version each points to."""
        folder = self._tenant_dir(tenant) / model
        if not NAME.match(model) or not (folder / ALIASES_FILE).is_file():
            known = ", ".join(self.models(tenant)) or "none"
            raise NotFound(
                f"tenant {tenant!r} has no model {model!r} (its models: {known})"
            )
        table = json.loads((folder / ALIASES_FILE).read_text())
        return {k: int(v) for k, v in table.items()}

    def resolve(self, tenant: str, model: str, alias: str) -> tuple[int, Path]:
        """The version ``alias`` points to for the tenant's model, and its file."""
        aliases = self.aliases(tenant, model)
        if alias not in aliases:
            known = ", ".join(sorted(aliases)) or "none"
            raise NotFound(
                f"model {model!r} of tenant {tenant!r} has no alias {alias!r} "
                f"(its aliases: {known})"
            )
        version = aliases[alias]
        path = self.root / tenant / model / str(version) / MODEL_FILE
        if not path.is_file():
            raise NotFound(f"version {version} of {tenant}/{model} has no model file")
        return version, path

    def publish(
        self,
        tenant: str,
        model: str,
        version: int,
        onnx: bytes,
        metadata: Mapping[str, Any],
        aliases: Mapping[str, int] | None = None,
    ) -> Path:
        """Write one model version (and, if given, the aliases): the deploy step."""
        for name in (tenant, model):
            if not NAME.match(name):
                raise ValueError(f"{name!r} is not a valid name ({NAME.pattern})")
        folder = self.root / tenant / model
        path = folder / str(int(version)) / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(onnx)
        metadata_path(path).write_text(json.dumps(dict(metadata)))
        if aliases is not None:
            self.set_aliases(tenant, model, aliases)
        return path

    def set_aliases(self, tenant: str, model: str, aliases: Mapping[str, int]) -> None:
        """Point the model's aliases at versions (written atomically)."""
        for alias in aliases:
            if not NAME.match(alias):
                raise ValueError(f"{alias!r} is not a valid alias ({NAME.pattern})")
        folder = self.root / tenant / model
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / (ALIASES_FILE + ".tmp")
        temporary.write_text(json.dumps({k: int(v) for k, v in aliases.items()}))
        temporary.replace(folder / ALIASES_FILE)


# ------------------------------------------------------------------ the cache
@dataclass
class CacheStats:
    """What the cache did since it started."""

    hits: int = 0
    loads: int = 0
    evictions: int = 0
    evicted: list = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts, and the keys evicted (oldest first)."""
        return {
            "hits": self.hits,
            "loads": self.loads,
            "evictions": self.evictions,
            "evicted": [list(k) if isinstance(k, tuple) else k for k in self.evicted],
        }


class ModelCache:
    """Loaded models by key, least recently used first out, within ``budget_bytes``.

    ``load(key)`` returns ``(model, size_bytes)``. Thread-safe; a model larger
    than the whole budget raises :class:`DoesNotFit` and evicts nothing.
    """

    def __init__(
        self, budget_bytes: int, load: Callable[[Hashable], tuple[Any, int]]
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be positive")
        self.budget = int(budget_bytes)
        self._load = load
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()
        self.on_evict: Callable[[Hashable], None] | None = None

    @property
    def used(self) -> int:
        """Bytes of the models held now."""
        return sum(size for _, size in self._items.values())

    def held(self) -> list[Hashable]:
        """Keys held, least recently used first."""
        return list(self._items)

    def get(self, key: Hashable) -> Any:
        """The model for ``key``, loaded (and others evicted) if needed."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.stats.hits += 1
                return self._items[key][0]
            model, size = self._load(key)
            if size > self.budget:
                raise DoesNotFit(
                    f"{key} needs {size:,} bytes, more than the budget {self.budget:,}"
                )
            while self._items and self.used + size > self.budget:
                old, _ = self._items.popitem(last=False)
                self.stats.evictions += 1
                self.stats.evicted.append(old)
                if self.on_evict is not None:
                    self.on_evict(old)
            self._items[key] = (model, size)
            self.stats.loads += 1
            return model


# ------------------------------------------------------------------ quotas
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; a request takes one."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst, self.clock = float(rate), int(burst), clock
        self.tokens = float(burst)
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 if the request may go now, else the seconds until a token is due."""
        with self._lock:
            now = self.clock()
            elapsed = max(0.0, now - self.updated)
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class Quota:
    """A tenant's allowance: ``rate`` requests per second, bursts of ``burst``."""

    rate: float
    burst: int = 1


class Quotas:
    """A bucket per tenant that has a quota; tenants without one are not limited."""

    def __init__(
        self,
        quotas: Mapping[str, Quota],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quotas = dict(quotas)
        self.buckets = {
            t: TokenBucket(q.rate, q.burst, clock) for t, q in self.quotas.items()
        }

    def wait(self, tenant: str) -> float:
        """0.0 when ``tenant`` may send now, else the seconds to wait."""
        bucket = self.buckets.get(tenant)
        return 0.0 if bucket is None else bucket.take()

    @staticmethod
    def retry_after(seconds: float) -> str:
        """The ``Retry-After`` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(seconds)))

    def to_env(self) -> dict[str, str]:
        """The quotas as the service's environment variable."""
        table = {t: {"rate": q.rate, "burst": q.burst} for t, q in self.quotas.items()}
        return {ENV_QUOTAS: json.dumps(table)}


def quotas_from_json(text: str) -> dict[str, Quota]:
    """``{"tenant": {"rate": 50, "burst": 10}}`` as :class:`Quota` objects."""
    table = json.loads(text) if text.strip() else {}
    return {
        t: Quota(float(q["rate"]), int(q.get("burst", 1))) for t, q in table.items()
    }


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


class _QuotaGate:
    """Pure ASGI middleware: a tenant over its quota gets 429 before any parsing.

    Refusing in front of routing and body validation keeps a refusal cheap: the
    flood of a tenant over its quota costs the server as little as possible.
    """

    def __init__(
        self, app: Any, catalogue: Catalogue, quotas: Quotas, metrics: TenantMetrics
    ) -> None:
        self.app, self.catalogue, self.quotas = app, catalogue, quotas
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")  # ["", "v1", tenant, model, "predict"]
            if len(parts) == 5 and parts[1] == "v1" and parts[4] == "predict":
                tenant, model = parts[2], parts[3]
                if tenant in self.quotas.buckets and self.catalogue.has_tenant(tenant):
                    wait = self.quotas.wait(tenant)
                    if wait > 0:
                        known = self.catalogue.has_model(tenant, model)
                        label = model if known else UNKNOWN
                        self.metrics.throttled.labels(tenant).inc()
                        self.metrics.requests.labels(tenant, label, "429").inc()
                        rate = self.quotas.quotas[tenant].rate
                        refusal = JSONResponse(
                            {
                                "detail": f"tenant {tenant!r} is over its quota "
                                f"of {rate:g} requests/s"
                            },
                            429,
                            headers={"Retry-After": Quotas.retry_after(wait)},
                        )
                        await refusal(scope, receive, send)
                        return
        await self.app(scope, receive, send)


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
    app.add_middleware(_QuotaGate, catalogue=catalogue, quotas=quotas, metrics=metrics)
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
        responses={404: {}, 429: {}},
    )
    async def predict(
        tenant: str, model: str, application: Application, alias: str = DEFAULT_ALIAS
    ) -> Any:
        """Score one application with the tenant's model (its ``alias`` version)."""
        started = time.perf_counter()
        if not catalogue.has_tenant(tenant):
            return refuse(404, f"unknown tenant {tenant!r}", UNKNOWN, UNKNOWN)
        # (a tenant over its quota never gets here: _QuotaGate answered 429)
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


def uvicorn_command(*extra: str) -> list[str]:
    """The argument list running this service with uvicorn on ``{port}``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "mlops_course.serving.tenancy:app_from_env",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-access-log",
        *extra,
    ]
