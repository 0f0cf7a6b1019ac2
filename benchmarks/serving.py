"""Serving benchmark: the course's model service, its limits, `mlflow models serve`.

    .venv/bin/python benchmarks/serving.py            # about 1-2 minutes on 2 cores
    .venv/bin/python benchmarks/serving.py --quick    # a smoke run, ~30 s
    .venv/bin/python benchmarks/serving.py --json results.json

Everything runs on loopback. The servers are pinned to one core and this
process (the load client and the in-process measurements) to another, where
the machine has two or more. For each setup it measures:

- single-row latency p50/p99 at concurrency 1;
- single-row throughput (requests/s) at concurrency 8;
- batch throughput (rows/s) with batches of 1,000 rows at concurrency 4.

Setups: in-process ``predict_proba`` on a ready DataFrame (the limit: no HTTP,
no parsing), in-process ONNX Runtime, the course service
(``mlops_course.serving``) with its ONNX Runtime engine (JSON, and Arrow for
batches) and with the scikit-learn engine, and `mlflow models serve` of the
same fitted pipeline. It ends with the targets of chapter 5 and whether they
were met.

Then a concurrency sweep (chapter 15): single-row requests/s and p99 at
concurrency 1, 8 and 32 for in-process ONNX Runtime, the chapter 5 service,
the multi-model service (``mlops_course.serving.multi_model``) with micro-batching
off, with fixed waits and with the adaptive wait, and BentoML serving the same
ONNX model (per call, and with its adaptive batching), with chapter 15's
targets. Each point is measured ``--repeats`` times (median shown, min-max
beside it); the mean batch is reported per setup and concurrency. The load
client reports its own CPU use: near 100% means the client, not the server,
set the ceiling. Timings depend on the machine and on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from mlops_course.data import FEATURES, generate_applications, time_split
from mlops_course.loadtest import call_times, run_load
from mlops_course.modeling import features_and_target, make_model, wide_mlp
from mlops_course.serialization import as_model_input, to_onnx
from mlops_course.servers import HOST, serve
from mlops_course.serving import (
    ARROW_STREAM,
    OnnxEngine,
    Settings,
    multi_model,
    parity_sample,
    save_model_metadata,
    to_arrow_stream,
    to_records,
    uvicorn_command,
)
from mlops_course.serving.batching import BatchSettings
from mlops_course.shell import executable

BATCH_ROWS = 1_000
CONCURRENCY = (1, 8, 32)


@dataclass
class Row:
    """One line of the results table (None where a measure does not apply)."""

    setup: str
    p50_ms: float | None = None
    p99_ms: float | None = None
    req_per_s: float | None = None
    rows_per_s: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Plan:
    """How many requests each measure sends, and for how long at most."""

    single_c1: int
    single_c8: int
    batches: int
    warmup: int
    time_limit: float
    sweep: int = 3_000


FULL = Plan(single_c1=1_500, single_c8=4_000, batches=150, warmup=200, time_limit=8.0)
QUICK = Plan(
    single_c1=300, single_c8=600, batches=30, warmup=50, time_limit=3.0, sweep=600
)


def pin(cores: set[int]) -> None:
    """Run this process (and the threads it starts) on ``cores`` only."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def core_plan() -> tuple[list[str], str]:
    """The command prefix that pins a server to core 0, and a note on the pinning."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2 and shutil.which("taskset"):
        server, client = cores[0], cores[1]
        pin({client})
        return [
            "taskset",
            "-c",
            str(server),
        ], f"server on core {server}, client on core {client}"
    return [], "not pinned (fewer than 2 cores or no taskset)"


def in_process_rows(
    pipeline, one: pd.DataFrame, batch: pd.DataFrame, plan: Plan
) -> list[Row]:
    """The limit: the model called directly, no HTTP and no parsing."""
    rows = []
    engine = OnnxEngine.from_pipeline(pipeline, parity_sample())
    cases = [
        ("in-process predict_proba (DataFrame)", pipeline.predict_proba, one, batch),
        (
            "in-process ONNX Runtime (columns)",
            engine.predict_proba,
            as_model_input(one),
            as_model_input(batch),
        ),
    ]
    for name, predict, single, many in cases:
        single_times = call_times(partial(predict, single), plan.single_c1)
        batch_times = call_times(
            partial(predict, many), max(20, plan.batches // 2), warmup=5
        )
        rows.append(
            Row(
                name,
                p50_ms=float(np.percentile(single_times, 50) * 1e3),
                p99_ms=float(np.percentile(single_times, 99) * 1e3),
                req_per_s=float(1 / single_times.mean()),
                rows_per_s=float(len(batch) / np.median(batch_times)),
                note="one thread, calls back to back",
            )
        )
    return rows


def check(answer: bytes, want: np.ndarray, what: str) -> None:
    """Fail loudly if a server's probabilities differ from the pipeline's."""
    body = json.loads(answer)
    got = body.get("probability_of_default") or body.get("predictions")
    got = np.asarray(got, dtype=float)
    got = got[:, 1] if got.ndim == 2 else got
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-5):
        raise SystemExit(f"{what}: answers differ from predict_proba")


def measure_server(
    url: str,
    name: str,
    single: tuple[str, bytes] | None,
    batch: tuple[str, bytes, str] | None,
    plan: Plan,
    note: str = "",
) -> Row:
    """Latency at concurrency 1, req/s at concurrency 8, rows/s with batches."""
    row = Row(name, note=note)
    limit = plan.time_limit
    if single is not None:
        path, body = single
        c1 = run_load(
            url + path,
            body,
            n_requests=plan.single_c1,
            concurrency=1,
            warmup=plan.warmup,
            time_limit=limit,
        )
        c8 = run_load(
            url + path,
            body,
            n_requests=plan.single_c8,
            concurrency=8,
            warmup=plan.warmup,
            time_limit=limit,
        )
        for result in (c1, c8):
            if result.n_errors:
                raise SystemExit(f"{name}: HTTP errors {result.statuses}")
        row.p50_ms, row.p99_ms = c1.percentile_ms(50), c1.percentile_ms(99)
        row.req_per_s = c8.throughput
    if batch is not None:
        path, body, content_type = batch
        result = run_load(
            url + path,
            body,
            content_type=content_type,
            concurrency=4,
            n_requests=plan.batches,
            warmup=8,
            time_limit=limit,
        )
        if result.n_errors:
            raise SystemExit(f"{name}: HTTP errors {result.statuses}")
        row.rows_per_s = result.throughput * BATCH_ROWS
    return row


def post_once(url: str, body: bytes, content_type: str = "application/json") -> bytes:
    import httpx

    with httpx.Client(trust_env=False, timeout=60) as client:
        response = client.post(
            url, content=body, headers={"content-type": content_type}
        )
        response.raise_for_status()
        return response.content


def course_rows(model_file, payloads, want, pin_prefix, plan, logs) -> list[Row]:
    """The course service with each engine."""
    one_json, batch_json, batch_arrow = payloads
    command = [
        *pin_prefix,
        *uvicorn_command("--log-level", "warning", access_log=False),
    ]
    rows = []
    setups = [
        ("onnx", "course service, ONNX Runtime", Settings(model_path=model_file), True),
        (
            "sklearn",
            "course service, sklearn engine",
            Settings(model_path=model_file, engine="sklearn"),
            False,
        ),
    ]
    for key, name, settings, with_arrow in setups:
        with serve(
            command,
            env=settings.to_env(),
            health="/ready",
            log_path=logs / f"course-{key}.log",
        ) as server:
            check(post_once(server.url + "/predict/batch", batch_json), want, name)
            arrow_url = server.url + "/predict/batch/arrow"
            check(post_once(arrow_url, batch_arrow, ARROW_STREAM), want, name)
            rows.append(
                measure_server(
                    server.url,
                    f"{name} (JSON)",
                    ("/predict", one_json),
                    ("/predict/batch", batch_json, "application/json"),
                    plan,
                )
            )
            if with_arrow:
                rows.append(
                    measure_server(
                        server.url,
                        f"{name} (Arrow batch)",
                        None,
                        ("/predict/batch/arrow", batch_arrow, ARROW_STREAM),
                        plan,
                    )
                )
    return rows


def columnar_row(onnx_file: Path, many: pd.DataFrame, want, pin_prefix, plan, logs):
    """The multi-model service's columnar JSON route: one list per feature."""
    records = to_records(many)
    body = json.dumps({n: [r[n] for r in records] for n in FEATURES}).encode()
    command = [
        *pin_prefix,
        *uvicorn_command(
            "--log-level",
            "warning",
            factory=multi_model.UVICORN_FACTORY,
            access_log=False,
        ),
    ]
    models = {"logreg": Settings(onnx_path=onnx_file)}
    env = {
        **multi_model.models_env(models),
        **BatchSettings(enabled=False).to_env(),
    }
    with serve(
        command, env=env, health="/ready", log_path=logs / "columnar.log"
    ) as server:
        path = "/models/logreg/predict/columns"
        name = "multi-model service, columnar JSON batch"
        check(post_once(server.url + path, body), want, name)
        return measure_server(
            server.url, name, None, (path, body, "application/json"), plan
        )


def mlflow_row(pipeline, X, single, many, want, pin_prefix, plan, work: Path) -> Row:
    """`mlflow models serve` of the same pipeline, answering probabilities."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    path = work / "mlflow-model"
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values: not ours
        warnings.filterwarnings(
            "ignore",
            message="Hint: Inferred schema contains integer",
            category=UserWarning,
        )
        signature = infer_signature(X, pipeline.predict_proba(X.iloc[:5]))
    mlflow.sklearn.save_model(
        pipeline,
        str(path),
        signature=signature,
        pyfunc_predict_fn="predict_proba",  # probabilities, like the course service
        skops_trusted_types=[
            "numpy.dtype"
        ],  # skops refuses the encoder's dtype otherwise
    )

    def split(frame: pd.DataFrame) -> bytes:
        return json.dumps(
            {"dataframe_split": frame.to_dict(orient="split", index=False)}
        ).encode()

    command = [
        *pin_prefix,
        executable("mlflow"),
        "models",
        "serve",
        "-m",
        str(path),
        "--env-manager",
        "local",
        "--host",
        HOST,
        "--port",
        "{port}",
    ]
    env = {
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "PATH": os.path.dirname(sys.executable)
        + os.pathsep
        + os.environ.get("PATH", ""),
    }
    with serve(
        command,
        env=env,
        health="/ping",
        timeout=120,
        log_path=work / "mlflow-serve.log",
    ) as server:
        check(
            post_once(server.url + "/invocations", split(many)),
            want,
            "mlflow models serve",
        )
        return measure_server(
            server.url,
            "mlflow models serve",
            ("/invocations", split(single)),
            ("/invocations", split(many), "application/json"),
            plan,
            note="dataframe_split JSON",
        )


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if value < 100 else f"{value:,.0f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| setup | p50 ms (c=1) | p99 ms (c=1) | req/s (c=8) | rows/s (batch 1000) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.setup} | {fmt(r.p50_ms, 3)} | {fmt(r.p99_ms, 3)} | "
            f"{fmt(r.req_per_s)} | {fmt(r.rows_per_s)} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row]) -> tuple[str, bool]:
    """The chapter's targets, measured ratios, and whether each is met."""
    by = {r.setup: r for r in rows}
    limit = by["in-process predict_proba (DataFrame)"]
    mlflow = by.get("mlflow models serve")
    course = by["course service, ONNX Runtime (JSON)"]
    arrow = by["course service, ONNX Runtime (Arrow batch)"]
    checks = [
        (
            "course p50 ÷ in-process p50",
            course.p50_ms / limit.p50_ms,
            "≤ 2",
            lambda v: v <= 2,
        ),
        (
            "course JSON batch rows/s ÷ in-process",
            course.rows_per_s / limit.rows_per_s,
            "≥ 0.5",
            lambda v: v >= 0.5,
        ),
        (
            "columnar JSON batch rows/s ÷ in-process",
            by["multi-model service, columnar JSON batch"].rows_per_s
            / limit.rows_per_s,
            "≥ 0.5",
            lambda v: v >= 0.5,
        ),
        (
            "course Arrow batch rows/s ÷ in-process",
            arrow.rows_per_s / limit.rows_per_s,
            "≥ 0.5",
            lambda v: v >= 0.5,
        ),
    ]
    if mlflow is not None:
        checks += [
            (
                "course req/s ÷ mlflow req/s",
                course.req_per_s / mlflow.req_per_s,
                "≥ 4",
                lambda v: v >= 4,
            ),
        ]
    lines = ["| target | measured | goal | met |", "|---|---:|---:|:---:|"]
    ok = True
    for name, value, goal, test in checks:
        met = bool(test(value))
        ok &= met
        lines.append(f"| {name} | {value:.2f} | {goal} | {'yes' if met else 'NO'} |")
    return "\n".join(lines), ok


# --------------------------------------------------------------- concurrency sweep
@dataclass
class SweepRow:
    """Requests/s and p99 (ms) at each concurrency (median of the repeats, and
    each repeat's value), the client's CPU share and the mean batch size."""

    setup: str
    req_per_s: dict[int, float]
    p99_ms: dict[int, float]
    client_cpu: dict[int, float]
    note: str = ""
    runs_req_per_s: dict[int, list[float]] = field(default_factory=dict)
    runs_p99_ms: dict[int, list[float]] = field(default_factory=dict)
    mean_batch: dict[int, float] = field(default_factory=dict)


def sweep_server(
    url: str,
    name: str,
    body: bytes,
    plan: Plan,
    note: str = "",
    repeats: int = 3,
    stats_url: str | None = None,
) -> SweepRow:
    """Single-row load at each of :data:`CONCURRENCY`, ``repeats`` times each.

    Fails on any non-2xx. With ``stats_url`` (the batcher's ``/batching``), the
    mean batch of the timed requests is recorded per concurrency.
    """
    row = SweepRow(name, {}, {}, {}, note)
    for c in CONCURRENCY:
        run_load(url, body, concurrency=c, n_requests=plan.warmup, time_limit=5)
        before = httpx_get_json(stats_url)["stats"] if stats_url else None
        rates, p99s, cpus = [], [], []
        for _ in range(repeats):
            cpu = time.process_time()
            result = run_load(
                url,
                body,
                concurrency=c,
                n_requests=plan.sweep // repeats,
                time_limit=plan.time_limit / repeats,
            )
            if result.n_errors:
                raise SystemExit(f"{name}: HTTP errors {result.statuses}")
            cpus.append((time.process_time() - cpu) / result.wall_seconds)
            rates.append(result.throughput)
            p99s.append(result.percentile_ms(99))
        if before is not None:
            after = httpx_get_json(stats_url)["stats"]
            batches = after["batches"] - before["batches"]
            row.mean_batch[c] = (after["rows"] - before["rows"]) / max(batches, 1)
        row.runs_req_per_s[c], row.runs_p99_ms[c] = rates, p99s
        row.client_cpu[c] = float(np.median(cpus))
        row.req_per_s[c] = float(np.median(rates))
        row.p99_ms[c] = float(np.median(p99s))
    return row


def in_process_sweep(
    onnx_files: dict[str, Path], rows: pd.DataFrame, plan: Plan, batch_size: int
) -> list[SweepRow]:
    """The ceiling: ONNX Runtime called in-process, one row and a batch a call."""
    out = []
    for name, path in onnx_files.items():
        engine = OnnxEngine(path.read_bytes())
        for size in (1, batch_size):
            columns = as_model_input(rows.iloc[:size])
            times = call_times(partial(engine.predict_proba, columns), plan.sweep // 4)
            rate = size / float(times.mean())
            p99 = float(np.percentile(times, 99) * 1e3)
            label = "1 row" if size == 1 else f"{size} rows"
            out.append(
                SweepRow(
                    f"{name}: in-process ONNX Runtime, {label} a call",
                    dict.fromkeys(CONCURRENCY, rate),
                    dict.fromkeys(CONCURRENCY, p99),
                    {},
                    "no HTTP; rows/s; p99 of a call",
                )
            )
    return out


def course_sweep(
    onnx_files: dict[str, Path],
    body: bytes,
    pin_prefix,
    plan,
    max_wait,
    logs,
    batch_size: int,
    repeats: int,
) -> list[SweepRow]:
    """Chapter 5's service, then the multi-model service without and with batching."""
    rows = []
    first = next(iter(onnx_files))
    command = [
        *pin_prefix,
        *uvicorn_command("--log-level", "warning", access_log=False),
    ]
    with serve(
        command,
        env=Settings(onnx_path=onnx_files[first]).to_env(),
        health="/ready",
        log_path=logs / "sweep-ch5.log",
    ) as server:
        url = server.url + "/predict"
        rows.append(
            sweep_server(
                url, f"{first}: chapter 5 service", body, plan, repeats=repeats
            )
        )
    models = {name: Settings(onnx_path=path) for name, path in onnx_files.items()}
    command = [
        *pin_prefix,
        *uvicorn_command(
            "--log-level",
            "warning",
            factory=multi_model.UVICORN_FACTORY,
            access_log=False,
        ),
    ]
    setups = [("batching off", BatchSettings(enabled=False))] + [
        (
            f"micro-batching ({wait:g} ms, {batch_size} rows)",
            BatchSettings(max_wait_ms=wait, max_batch_size=batch_size),
        )
        for wait in max_wait
    ]
    setups.append(
        (
            f"micro-batching (adaptive {max(max_wait):g} ms, {batch_size} rows)",
            BatchSettings(
                max_wait_ms=max(max_wait), max_batch_size=batch_size, adaptive=True
            ),
        )
    )
    for label, settings in setups:
        env = {**multi_model.models_env(models), **settings.to_env()}
        with serve(
            command, env=env, health="/ready", log_path=logs / "sweep-batched.log"
        ) as server:
            for name in models:
                url = f"{server.url}/models/{name}/predict"
                row = sweep_server(
                    url,
                    f"{name}: multi-model service, {label}",
                    body,
                    plan,
                    repeats=repeats,
                    stats_url=server.url + "/batching" if settings.enabled else None,
                )
                if row.mean_batch:
                    shown = " / ".join(f"{row.mean_batch[c]:.1f}" for c in CONCURRENCY)
                    row.note = f"mean batch (c={'/'.join(map(str, CONCURRENCY))}): "
                    row.note += shown
                rows.append(row)
    return rows


def httpx_get_json(url: str) -> dict:
    import httpx

    with httpx.Client(trust_env=False, timeout=30) as client:
        return client.get(url).raise_for_status().json()


def bento_sweep(
    onnx_files: dict[str, Path], record: dict, pin_prefix, plan, logs, repeats: int
) -> list[SweepRow]:
    """BentoML serving the same ONNX models: per call, and adaptive batching."""
    command = [
        *pin_prefix,
        executable("bentoml"),
        "serve",
        "mlops_course.bento_service:CreditDefault",
        "--host",
        HOST,
        "--port",
        "{port}",
    ]
    rows = []
    for name, path in onnx_files.items():
        env = {"BENTOML_DO_NOT_TRACK": "true", "MLOPS_ONNX_PATH": str(path)}
        with serve(
            command,
            env=env,
            health="/readyz",
            timeout=120,
            cwd=logs,
            log_path=logs / "bentoml.log",
        ) as server:
            for route, body, label in [
                ("/predict", {"application": record}, "BentoML, per call"),
                (
                    "/predict_batched",
                    {"applications": [record]},
                    "BentoML, adaptive batching (32 rows)",
                ),
            ]:
                data = json.dumps(body).encode()
                url = server.url + route
                rows.append(
                    sweep_server(url, f"{name}: {label}", data, plan, repeats=repeats)
                )
    return rows


def spread(value: float, runs: list[float] | None, digits: int = 2) -> str:
    """The median, with the repeats' range when there were several."""
    if not runs or len(runs) < 2:
        return fmt(value, digits)
    return f"{fmt(value, digits)} ({fmt(min(runs), digits)}–{fmt(max(runs), digits)})"


def sweep_table(rows: list[SweepRow]) -> str:
    head = " | ".join(f"req/s c={c} | p99 ms c={c}" for c in CONCURRENCY)
    lines = [
        f"| setup | {head} | client CPU c={CONCURRENCY[-1]} | note |",
        "|---|" + "---:|" * (2 * len(CONCURRENCY) + 1) + "---|",
    ]
    for r in rows:
        cells = " | ".join(
            f"{spread(r.req_per_s[c], r.runs_req_per_s.get(c))} | "
            f"{spread(r.p99_ms[c], r.runs_p99_ms.get(c), 3)}"
            for c in CONCURRENCY
        )
        cpu = r.client_cpu.get(CONCURRENCY[-1])
        shown = "–" if cpu is None else f"{cpu:.0%}"
        lines.append(f"| {r.setup} | {cells} | {shown} | {r.note} |")
    return "\n".join(lines)


def sweep_targets(rows: list[SweepRow], models: list[str]) -> tuple[str, bool]:
    """Chapter 15's targets per model: batching at c=32 and c=1, against BentoML."""
    top, low = CONCURRENCY[-1], CONCURRENCY[0]
    lines = ["| model | target | measured | goal | met |", "|---|---|---:|---:|:---:|"]
    ok = True
    for model in models:
        mine = [r for r in rows if r.setup.startswith(f"{model}: ")]
        off = next(r for r in mine if r.setup.endswith("batching off"))
        bento = [r for r in mine if "BentoML" in r.setup]
        for on in [r for r in mine if "micro-batching" in r.setup]:
            wait = on.setup.split("(")[1].split(",")[0]
            if "adaptive" not in wait:
                wait = f"fixed {wait}"
            checks = [
                (
                    f"batched ({wait}) ÷ unbatched req/s at c={top}",
                    on.req_per_s[top] / off.req_per_s[top],
                    "≥ 2",
                    lambda v: v >= 2,
                ),
                (
                    f"batched ({wait}) ÷ unbatched p99 at c={low}",
                    on.p99_ms[low] / off.p99_ms[low],
                    "≤ 2",
                    lambda v: v <= 2,
                ),
            ]
            if bento:
                best = max(bento, key=lambda r: r.req_per_s[top])
                checks.append(
                    (
                        f"batched ({wait}) ÷ best BentoML req/s at c={top}",
                        on.req_per_s[top] / best.req_per_s[top],
                        "> 1",
                        lambda v: v > 1,
                    )
                )
            for name, value, goal, test in checks:
                met = bool(test(value))
                ok &= met
                mark = "yes" if met else "NO"
                lines.append(f"| {model} | {name} | {value:.2f} | {goal} | {mark} |")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer requests (smoke run)"
    )
    parser.add_argument(
        "--no-mlflow", action="store_true", help="skip `mlflow models serve`"
    )
    parser.add_argument("--n-rows", type=int, default=8_000, help="training data size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed"
    )
    parser.add_argument(
        "--only-sweep", action="store_true", help="only the concurrency sweep"
    )
    parser.add_argument(
        "--no-bento", action="store_true", help="skip BentoML in the sweep"
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        nargs="+",
        default=[0.0, 2.0],
        help="micro-batching waits to measure",
    )
    parser.add_argument(
        "--mlp",
        type=int,
        nargs="*",
        default=[2048, 2048],
        help="hidden layers of the second, heavier model (none: skip it)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=16,
        help="micro-batching's max_batch_size (chapter 15 picks it from the "
        "measured cost per row)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per point of the sweep"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    started = time.perf_counter()
    pin_prefix, pinning = core_plan()

    split = time_split(generate_applications(args.n_rows, seed=args.seed))
    X, y = features_and_target(split.train)
    pipeline = make_model("logreg", seed=args.seed).fit(X, y)
    test = split.test[FEATURES]
    many = pd.concat([test] * (BATCH_ROWS // len(test) + 1)).iloc[:BATCH_ROWS]
    one = many.iloc[:1]
    want = pipeline.predict_proba(many)[:, 1]
    payloads = (
        json.dumps(to_records(one)[0]).encode(),
        json.dumps({"applications": to_records(many)}).encode(),
        to_arrow_stream(many),
    )

    rows: list[Row] = (
        [] if args.only_sweep else in_process_rows(pipeline, one, many, plan)
    )
    sweep: list[SweepRow] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        model_file = work / "model.joblib"
        joblib.dump(pipeline, model_file)
        onnx_file = work / "model.onnx"
        onnx_file.write_bytes(to_onnx(pipeline, X))
        onnx_files = {"logreg": onnx_file}
        if args.mlp:
            mlp = wide_mlp(X, y, tuple(args.mlp), seed=args.seed)
            onnx_files["mlp"] = work / "mlp.onnx"
            onnx_files["mlp"].write_bytes(to_onnx(mlp, X))
        for path in [model_file, *onnx_files.values()]:  # the service needs one
            save_model_metadata(path, {"decision_threshold": 0.5})  # timing only
        try:
            if not args.only_sweep:
                rows += course_rows(model_file, payloads, want, pin_prefix, plan, work)
                rows.append(columnar_row(onnx_file, many, want, pin_prefix, plan, work))
                if not args.no_mlflow:
                    rows.append(
                        mlflow_row(pipeline, X, one, many, want, pin_prefix, plan, work)
                    )
            size = args.max_batch_size
            sweep += in_process_sweep(onnx_files, many, plan, size)
            sweep += course_sweep(
                onnx_files,
                payloads[0],
                pin_prefix,
                plan,
                args.max_wait_ms,
                work,
                size,
                args.repeats,
            )
            if not args.no_bento:
                record = to_records(one)[0]
                sweep += bento_sweep(
                    onnx_files, record, pin_prefix, plan, work, args.repeats
                )
        except Exception:
            for log in sorted(work.glob("*.log")):
                print(f"--- {log.name} ---\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise

    print(
        f"## Serving benchmark ({'quick' if args.quick else 'full'} run; {pinning}; "
        f"{os.cpu_count()} cores; batch = {BATCH_ROWS} rows)\n"
    )
    ok = True
    if rows:
        summary, ok = targets(rows)
        print(table(rows))
        print(
            "\nIn-process rows: no HTTP; req/s is 1 / mean call time on one thread, "
            "rows/s is for a ready 1,000-row input. Service rows: JSON single rows; "
            "batches of 1,000 at concurrency 4. mlflow models serve: "
            "`dataframe_split` JSON, probabilities "
            '(`pyfunc_predict_fn="predict_proba"`).'
        )
        print("\n" + summary)
    print("\n### Concurrency sweep (chapter 15): single-row requests\n")
    print(sweep_table(sweep))
    print(
        f"\n{plan.sweep} requests per cell in {args.repeats} runs (median, min–max) "
        f"after {plan.warmup} untimed ones; client CPU is the load client's CPU "
        "time ÷ wall time (near 100%: the client set the ceiling). Mean batch: rows "
        "÷ engine calls of the timed requests, per concurrency."
    )
    sweep_summary, sweep_ok = sweep_targets(
        sweep, ["logreg", "mlp"][: 1 + bool(args.mlp)]
    )
    print("\n" + sweep_summary)
    ok &= sweep_ok
    print(f"\nmeasured in {time.perf_counter() - started:.0f} s")
    if args.json:
        results = {
            "rows": [asdict(r) for r in rows],
            "sweep": [asdict(r) for r in sweep],
        }
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
