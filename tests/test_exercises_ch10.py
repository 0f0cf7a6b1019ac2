"""Chapter 10's exercise checks, on right and wrong answers.

The Prefect check reads a real flow run on a real (loopback) Prefect server; the
KFP check reads a spec the KFP compiler wrote; the Airflow check parses a file.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mlops_course import orchestration, servers
from mlops_course.exercises import ch10

FLOW_SCRIPT = textwrap.dedent(
    """
    import json
    from prefect import flow, get_client, task
    from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE
    from mlops_course.exercises import ch10

    CACHE = INPUTS + TASK_SOURCE

    @task(task_run_name="ingest", cache_policy=NO_CACHE)
    def ingest(n):
        return n

    @task(task_run_name="validate", cache_policy=NO_CACHE)
    def validate(n):
        return n

    @task(task_run_name="features", cache_policy=CACHE)
    def features(n):
        return n + 1

    @task(task_run_name="train", cache_policy=CACHE)
    def train(n, C):
        return n * C

    @task(task_run_name="evaluate", cache_policy=CACHE)
    def evaluate(model):
        return model + 1

    @task(task_run_name="register", cache_policy=NO_CACHE)
    def register(model, report):
        return "kept"

    @flow(name="credit-training")
    def credit_training(n=10, C=1.0, source="reference"):
        model = train(features(validate(ingest(n))), C)
        return register(model, evaluate(model))

    verdicts = {}
    with get_client(sync_client=True) as client:
        credit_training(C=1.0, return_state=True)
        for name, C in [("right", 0.1), ("again", 0.1), ("old C", 1.0)]:
            state = credit_training(C=C, return_state=True)
            fb = ch10.cached_retrain(state, client=client)
            verdicts[name] = [fb.ok, fb.message]
        fb = ch10.cached_retrain("Completed", client=client)
        verdicts["a string"] = [fb.ok, fb.message]
    print(json.dumps(verdicts))
    """
)


@pytest.mark.slow
def test_cached_retrain_reads_the_flow_run_from_the_server(tmp_path):
    home = tmp_path / "prefect"
    port = servers.free_port()
    with orchestration.prefect_server(home, port=port, timeout=240):
        env = {**os.environ, **orchestration.prefect_env(home, port)}
        done = subprocess.run(
            [sys.executable, "-c", FLOW_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    verdicts = json.loads(done.stdout.strip().splitlines()[-1])
    # the checks ran in the subprocess: ch10.cached_retrain( right, then wrong
    assert verdicts["right"][0] is True, verdicts["right"][1]
    assert verdicts["right"][1].startswith("features came from the cache")
    assert verdicts["again"][0] is False
    assert "train was Cached: a new C changes train's cache key" in verdicts["again"][1]
    assert verdicts["old C"] == [
        False,
        "this flow run had C=1.0: the exercise reruns the flow with C=0.1",
    ]
    assert verdicts["a string"][0] is False
    assert "expected the flow run's final State" in verdicts["a string"][1]


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    """Two compiled KFP pipelines: train sized as asked, and sized on the wrong task."""
    from kfp import compiler, dsl

    @dsl.component(base_image="python:3.11-slim")
    def features_op(n: int) -> int:
        return n

    @dsl.component(base_image="python:3.11-slim")
    def train_op(n: int, C: float) -> float:
        return n * C

    @dsl.pipeline(name="sized")
    def sized(n: int = 3, C: float = 1.0):
        split = features_op(n=n)
        fitted = train_op(n=split.output, C=C)
        fitted.set_cpu_limit("2").set_memory_limit("4G").set_retry(num_retries=1)

    @dsl.pipeline(name="misplaced")
    def misplaced(n: int = 3, C: float = 1.0):
        split = features_op(n=n)
        split.set_cpu_limit("2").set_memory_limit("4G")
        train_op(n=split.output, C=C).set_retry(num_retries=1)

    root = tmp_path_factory.mktemp("kfp")
    paths = {}
    for pipeline in (sized, misplaced):
        paths[pipeline.name] = root / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(paths[pipeline.name]))
    return paths


def test_sized_spec_accepts_train_sized_on_its_executor(specs):
    fb = ch10.sized_spec(specs["sized"])
    assert fb.ok is True, fb.message


def test_sized_spec_refuses_resources_on_another_task(specs):
    fb = ch10.sized_spec(specs["misplaced"])
    assert fb.ok is False
    assert fb.message.startswith("train-op's executor has a CPU limit of None")


def test_sized_spec_refuses_a_missing_file(tmp_path):
    fb = ch10.sized_spec(tmp_path / "nothing.yaml")
    assert fb.ok is False and "compile the pipeline to it" in fb.message


DAG = """
from airflow.sdk import dag, task


@dag(schedule="@weekly")
def credit():
    @task
    def train() -> str:
        return "model"

    @task
    def register(model: str) -> str:
        return "1"

    register(train())


credit()
"""
NOTIFY = """
    @task
    def notify(version: str) -> None:
        print(version)

"""


def test_notify_last_accepts_notify_fed_by_register():
    original = orchestration.taskflow_summary(DAG)
    text = DAG.replace(
        "    register(train())", NOTIFY + "    notify(register(train()))"
    )
    fb = ch10.notify_last(text, original=original)
    assert fb.ok is True, fb.message


def test_notify_last_refuses_a_notify_without_register_s_result():
    original = orchestration.taskflow_summary(DAG)
    text = DAG.replace(
        "    register(train())", NOTIFY + "    register(train())\n    notify('1')"
    )
    fb = ch10.notify_last(text, original=original)
    assert fb.ok is False
    assert fb.message.startswith("notify does not receive register's result")
    assert "no notify task" in ch10.notify_last(DAG, original=original).message
