"""Service metrics for Prometheus: what the model service did, on ``/metrics``.

Chapter 13 reads this module and scrapes it; Phase 3 chapters reuse it. Opt-in:
``Settings(metrics=True)`` (``MLOPS_METRICS=true``) makes :func:`create_app`
call :func:`instrument`; without it the service, its routes and its OpenAPI
document are exactly those of chapter 5.

The instrumentation uses prometheus-client's four kinds of metric:

- a **Counter** of requests, by route template and status code (never by raw
  path: one label value per URL anyone sends would grow without bound);
- a **Histogram** of request latency, by route; quantiles are estimated from
  its buckets on the Prometheus side (``histogram_quantile``);
- a **Histogram** of the predicted probabilities (one observation per scored
  application): the prediction distribution, watched without any label;
- an **Info** (and a **Gauge** set to 1) naming the model version being served.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so two
apps in one process (tests) never share counts.

:func:`rule_problems` checks a Prometheus alerting-rule file offline (its YAML
shape, durations, and that every metric its queries read is one the service
exposes), where ``promtool check rules`` is not installed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

#: Latency buckets (seconds): fine below 10 ms, where a healthy service answers.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
#: Probability buckets: twenty bins of 0.05 between 0 and 1.
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
#: The route label of requests that matched no route (404s): one value, not many.
UNMATCHED = "unmatched"
METRICS_PATH = "/metrics"


@dataclasses.dataclass(frozen=True)
class ServiceMetrics:
    """The metric objects of one app, and the registry that exposes them."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    predictions: Histogram
    model_info: Info
    model_loaded: Gauge


def make_metrics(registry: CollectorRegistry | None = None) -> ServiceMetrics:
    """Create the service's metrics in ``registry`` (a new one by default)."""
    registry = CollectorRegistry() if registry is None else registry
    return ServiceMetrics(
        registry=registry,
        requests=Counter(
            "credit_requests",
            "HTTP requests answered, by route template and status code.",
            ["route", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "credit_request_latency_seconds",
            "Time to answer a request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        predictions=Histogram(
            "credit_predicted_probability",
            "Predicted probability of default, one observation per application.",
            buckets=PROBABILITY_BUCKETS,
            registry=registry,
        ),
        model_info=Info("credit_model", "The model being served.", registry=registry),
        model_loaded=Gauge(
            "credit_model_loaded",
            "1 while a model is loaded and answering, else 0.",
            registry=registry,
        ),
    )


class _ObservedEngine:
    """An engine that records every probability it returns in a histogram."""

    def __init__(self, engine: Any, histogram: Histogram) -> None:
        self._engine = engine
        self._histogram = histogram
        self.name = engine.name

    def predict_proba(self, columns: dict[str, list]) -> np.ndarray:
        proba = self._engine.predict_proba(columns)
        for p in np.asarray(proba, dtype=float).ravel():
            self._histogram.observe(p)
        return proba


class _Timing:
    """Pure ASGI middleware: count and time each HTTP request by route template."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def record_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, record_status)
        finally:
            # The router writes the matched route into the scope it was given.
            route = getattr(scope.get("route"), "path", UNMATCHED)
            if route != METRICS_PATH:
                elapsed = time.perf_counter() - started
                self.metrics.latency.labels(route).observe(elapsed)
                self.metrics.requests.labels(route, str(status[0])).inc()


def instrument(app: FastAPI, metrics: ServiceMetrics | None = None) -> ServiceMetrics:
    """Count, time and observe ``app``'s requests; serve them on ``/metrics``."""
    metrics = make_metrics() if metrics is None else metrics
    app.add_middleware(_Timing, metrics=metrics)

    inner = app.router.lifespan_context

    def observe(model: Any) -> Any:
        """``model`` with its predictions observed, and the model-info metric set."""
        observed = _ObservedEngine(model.engine, metrics.predictions)
        metrics.model_info.info(
            {"name": model.name, "version": model.version, "engine": model.engine.name}
        )
        metrics.model_loaded.set(1)
        return dataclasses.replace(model, engine=observed)

    # A model swapped in later (POST /admin/reload, chapter 8) goes through it too.
    app.state.model_wrappers = [*getattr(app.state, "model_wrappers", []), observe]

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            if app_.state.model is not None:
                app_.state.model = observe(app_.state.model)
            try:
                yield state
            finally:
                metrics.model_loaded.set(0)

    app.router.lifespan_context = lifespan

    @app.get(METRICS_PATH, include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        """The metrics in Prometheus' text format (what a Prometheus server scrapes)."""
        return Response(
            generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    app.state.metrics = metrics
    return metrics


# ------------------------------------------------------- alerting rules, checked
#: The fields Prometheus accepts in a rule (anything else fails to load).
_RULE_FIELDS = {
    "alert",
    "record",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
}
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: PromQL words that look like metric names but are not.
_PROMQL_WORDS = {
    *("by", "without", "on", "ignoring", "group_left", "group_right"),
    *("offset", "bool", "and", "or", "unless", "inf", "nan", "atan2"),
    *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count"),
    *("count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"),
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery windows
    grouping = r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    text = re.sub(grouping, " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group(0) in _PROMQL_WORDS:
            continue  # a function call or a keyword
        names.add(match.group(0))
    return names


def rule_problems(document: str, exposed: Iterable[str]) -> list[str]:
    """What keeps a Prometheus rule file from loading or alerting (empty: none).

    Checks the YAML shape Prometheus requires (``groups``, each with a ``name``
    and ``rules``; each rule an ``alert`` or a ``record`` with an ``expr``),
    the fields and durations, balanced brackets, and that every metric an
    expression reads is in ``exposed`` (sample names as scraped, such as
    ``credit_requests_total`` or ``credit_request_latency_seconds_bucket``).
    """
    import yaml

    try:
        loaded = yaml.safe_load(document)
    except yaml.YAMLError as error:
        return [f"not YAML: {error}"]
    exposed = set(exposed)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("groups"), list):
        return ["the file needs a top-level 'groups' list"]
    problems = []
    for g, group in enumerate(loaded["groups"]):
        if not isinstance(group, dict) or not group.get("name"):
            problems.append(f"group {g} needs a 'name'")
            continue
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            problems.append(f"group {group['name']!r} needs a non-empty 'rules' list")
            continue
        for r, rule in enumerate(rules):
            where = f"group {group['name']!r}, rule {r}"
            if not isinstance(rule, dict):
                problems.append(f"{where}: not a mapping")
                continue
            where = f"{where} ({rule.get('alert') or rule.get('record')})"
            unknown = sorted(set(rule) - _RULE_FIELDS)
            if unknown:
                problems.append(f"{where}: unknown fields {unknown}")
            if ("alert" in rule) == ("record" in rule):
                problems.append(f"{where}: needs exactly one of 'alert' and 'record'")
            elif not _NAME.match(str(rule.get("alert") or rule.get("record"))):
                problems.append(f"{where}: invalid name")
            for key in ("for", "keep_firing_for"):
                if key in rule and not _DURATION.match(str(rule[key])):
                    problems.append(f"{where}: '{key}' is not a duration")
            for key in ("labels", "annotations"):
                if key in rule and not (
                    isinstance(rule[key], dict)
                    and all(isinstance(v, str) for v in rule[key].values())
                ):
                    problems.append(f"{where}: '{key}' must map names to strings")
            expr = rule.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"{where}: needs an 'expr'")
                continue
            for opening, closing in ("()", "[]", "{}"):
                if expr.count(opening) != expr.count(closing):
                    problems.append(f"{where}: unbalanced '{opening}{closing}'")
            unread = sorted(promql_metric_names(expr) - exposed)
            if unread:
                problems.append(f"{where}: reads metrics not exposed: {unread}")
    return problems
