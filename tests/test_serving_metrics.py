"""Prometheus metrics of the model service (``serving.metrics``, chapter 13)."""

from __future__ import annotations

import secrets
import time

import joblib
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlops_course.data import FEATURES
from mlops_course.serving import Settings, save_model_metadata, to_records
from mlops_course.serving.metrics import (
    PROBABILITY_BUCKETS,
    UNMATCHED,
    promql_metric_names,
    rule_problems,
)
from tests.serving_helpers import client_for


@pytest.fixture(scope="module")
def frame(trained_logreg):
    return trained_logreg(1_500, seed=5, split=False).train


@pytest.fixture(scope="module")
def pipeline(trained_logreg):
    return trained_logreg(1_500, seed=5, split=False).pipeline


@pytest.fixture(scope="module")
def model_file(pipeline, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(pipeline, path)
    save_model_metadata(path, {"decision_threshold": 0.2})  # its own threshold
    return path


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a /metrics answer, keyed by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_settings_read_the_switch_from_the_environment(model_file):
    assert Settings.from_env({"MLOPS_METRICS": "true"}).metrics is True
    assert Settings().metrics is False
    assert "MLOPS_METRICS" not in Settings(model_path=model_file).to_env()
    assert Settings(metrics=True).to_env() == {"MLOPS_METRICS": "True"}


@pytest.mark.anyio
async def test_default_service_is_unchanged(model_file):
    plain = Settings(model_path=model_file)
    async with client_for(plain) as client:
        assert (await client.get("/metrics")).status_code == 404
        spec = (await client.get("/openapi.json")).json()
    async with client_for(Settings(model_path=model_file, metrics=True)) as client:
        assert (await client.get("/metrics")).status_code == 200
        spec_with_metrics = (await client.get("/openapi.json")).json()
    assert spec_with_metrics == spec
    assert "/metrics" not in spec["paths"]


@pytest.mark.anyio
async def test_requests_latency_predictions_and_model_are_measured(
    model_file, pipeline, frame
):
    rows = frame.iloc[:40]
    want = pipeline.predict_proba(rows[FEATURES])[:, 1]
    settings = Settings(model_path=model_file, model_version="9", metrics=True)
    async with client_for(settings) as client:
        # Every request is timed inside this span: their latencies add up to less.
        started = time.perf_counter()
        for record in to_records(rows.iloc[:3]):
            assert (await client.post("/predict", json=record)).status_code == 200
        batch = {"applications": to_records(rows.iloc[3:])}
        assert (await client.post("/predict/batch", json=batch)).status_code == 200
        bad = await client.post("/predict", json={"age": "old"})
        assert bad.status_code == 422
        assert (await client.get("/no/such/page")).status_code == 404
        assert (await client.get("/health")).status_code == 200
        span = time.perf_counter() - started
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)

    def requests(route: str, status: str) -> float:
        key = ("credit_requests_total", (("route", route), ("status", status)))
        return got.get(key, 0.0)

    assert requests("/predict", "200") == 3
    assert requests("/predict", "422") == 1
    assert requests("/predict/batch", "200") == 1
    assert requests(UNMATCHED, "404") == 1
    assert requests("/health", "200") == 1
    assert not any(
        labels and dict(labels).get("route") == "/metrics" for _, labels in got
    )
    predict = (("route", "/predict"),)
    assert got[("credit_request_latency_seconds_count", predict)] == 4
    inf_bucket = (("le", "+Inf"), ("route", "/predict"))
    assert got[("credit_request_latency_seconds_bucket", inf_bucket)] == 4
    timed = [
        got[("credit_request_latency_seconds_sum", ((("route", route),)))]
        for route in ("/predict", "/predict/batch", UNMATCHED, "/health")
    ]
    assert all(t > 0 for t in timed) and sum(timed) <= span
    # One probability per scored application (3 single + 37 in the batch).
    assert got[("credit_predicted_probability_count", ())] == len(rows)
    assert got[("credit_predicted_probability_sum", ())] == pytest.approx(
        want.sum(), rel=1e-4
    )
    # Cumulative buckets; ONNX and scikit-learn agree to ~1e-6, so a row may sit
    # on the other side of an edge: allow one.
    buckets = [
        got[("credit_predicted_probability_bucket", (("le", str(upper)),))]
        for upper in PROBABILITY_BUCKETS
    ]
    assert buckets == sorted(buckets) and buckets[-1] == len(rows)
    for upper, count in zip(PROBABILITY_BUCKETS, buckets, strict=True):
        assert abs(count - np.sum(want <= upper)) <= 1
    info = {k: v for k, v in got.items() if k[0] == "credit_model_info"}
    ((name, labels),) = info
    assert dict(labels) == {"name": "credit-default", "version": "9", "engine": "onnx"}
    assert got[("credit_model_loaded", ())] == 1


@pytest.mark.anyio
async def test_each_app_counts_its_own_requests(model_file):
    settings = Settings(model_path=model_file, metrics=True)
    async with client_for(settings) as first:
        await first.get("/health")
        await first.get("/health")
        async with client_for(settings) as second:
            text = (await second.get("/metrics")).text
    assert ("credit_requests_total", (("route", "/health"), ("status", "200"))) not in (
        samples(text)
    )


@pytest.mark.anyio
async def test_a_missing_model_is_reported_as_not_loaded(tmp_path, frame):
    settings = Settings(model_path=tmp_path / "missing.joblib", metrics=True)
    async with client_for(settings) as client:
        answer = await client.post("/predict", json=to_records(frame.iloc[:1])[0])
        assert answer.status_code == 503
        assert answer.json()["detail"].startswith("model not loaded:")
        got = samples((await client.get("/metrics")).text)
    assert got[("credit_model_loaded", ())] == 0
    assert (
        got[("credit_requests_total", (("route", "/predict"), ("status", "503")))] == 1
    )
    assert not any(k[0] == "credit_model_info" and k[1] for k in got)


@pytest.mark.anyio
async def test_a_reloaded_model_is_observed_and_reported_too(
    model_file, frame, tmp_path
):
    """Chapter 8's reload and chapter 13's metrics together: the new model counts."""
    import shutil

    path = tmp_path / "model.joblib"
    shutil.copy(model_file, path)
    token = secrets.token_urlsafe()  # the admin route needs one (chapter 8)
    settings = Settings(
        model_path=path,
        threshold=0.2,
        metrics=True,
        allow_reload=True,
        admin_token=token,
    )
    records = to_records(frame.iloc[:2])
    async with client_for(settings) as client:
        assert (await client.post("/predict", json=records[0])).status_code == 200
        auth = {"Authorization": f"Bearer {token}"}
        reloaded = await client.post("/admin/reload", headers=auth)
        assert reloaded.status_code == 200, reloaded.text
        new_version = reloaded.json()["model_version"]
        assert (await client.post("/predict", json=records[1])).status_code == 200
        got = samples((await client.get("/metrics")).text)
    assert got[("credit_predicted_probability_count", ())] == 2
    info = [dict(k[1]) for k in got if k[0] == "credit_model_info"]
    assert [i["version"] for i in info] == [new_version]


# ----------------------------------------------------------- alerting rules, checked
EXPOSED = {
    "credit_requests_total",
    "credit_request_latency_seconds_bucket",
    "credit_model_loaded",
}
GOOD_RULES = """
groups:
  - name: credit-service
    rules:
      - alert: CreditLatencyHigh
        expr: >-
          histogram_quantile(0.95, sum by (le) (
            rate(credit_request_latency_seconds_bucket{route="/predict"}[5m])
          )) > 0.1
        for: 10m
        labels: {severity: page}
        annotations: {summary: "p95 above 100 ms"}
      - alert: CreditModelNotLoaded
        expr: credit_model_loaded == 0
        for: 1m30s
"""


def test_a_well_formed_rule_file_has_no_problems():
    assert rule_problems(GOOD_RULES, EXPOSED) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("credit_model_loaded == 0", "credit_model_loadded == 0"), "not exposed"),
        (("for: 10m", "for: ten minutes"), "'for' is not a duration"),
        (("alert: CreditModelNotLoaded", "name: CreditModelNotLoaded"), "unknown"),
        (("[5m])", "[5m]"), "unbalanced '()'"),
        (("severity: page", "severity: 2"), "'labels' must map names to strings"),
        (("groups:", "group:"), "top-level 'groups'"),
        (("expr: credit_model_loaded == 0", "expr: ''"), "needs an 'expr'"),
        (("\n      - alert", "\n      -\n        alert"), None),  # same YAML
    ],
)
def test_each_broken_rule_file_is_refused_with_the_reason(edit, problem):
    broken = GOOD_RULES.replace(*edit)
    assert broken != GOOD_RULES
    found = rule_problems(broken, EXPOSED)
    if problem is None:
        assert found == []
    else:
        assert len(found) >= 1 and any(problem in p for p in found), found


def test_metric_names_are_read_out_of_promql():
    expr = (
        'sum(rate(credit_requests_total{status=~"5.."}[5m])) / '
        "sum without (status) (rate(credit_requests_total[5m] offset 1w)) > 0.01"
    )
    assert promql_metric_names(expr) == {"credit_requests_total"}
    both = promql_metric_names("up == 0 and on (job) absent(x_total)")
    assert both == {"up", "x_total"}
    assert rule_problems("groups: [", EXPOSED)[0].startswith("not YAML")
