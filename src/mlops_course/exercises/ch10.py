"""Checks for chapter 10's exercises (a Prefect run, a KFP spec, an Airflow DAG)."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops_course import orchestration
from mlops_course.exercises import Wrong, exercise, expect, expect_type

STRONGER_C = 0.1  # the exercise's regularisation
UPSTREAM_OF_TRAIN = ("features",)  # cached: same input, same code
CHANGED = ("train", "evaluate")  # train's key holds C; evaluate reads its model
NEVER_CACHED = ("ingest", "validate", "register")


@exercise("ex-10-1")
def cached_retrain(state, *, client) -> str:
    """The flow run with C=0.1: which tasks came from the cache, which ran."""
    expect(
        hasattr(state, "state_details") and hasattr(state, "is_completed"),
        f"expected the flow run's final State (return_state=True), got "
        f"{type(state).__name__}",
    )
    run_id = state.state_details.flow_run_id
    flow_run = client.read_flow_run(run_id)
    C = flow_run.parameters.get("C")
    expect(
        C == STRONGER_C,
        f"this flow run had C={C}: the exercise reruns the flow with C={STRONGER_C}",
    )
    source = flow_run.parameters.get("source", "reference")
    expect(
        source == "reference",
        f"this flow run read the {source!r} data: rerun it on the reference data",
    )
    expect(
        state.is_completed(),
        f"the flow run ended {state.name}: the reference data passes validate",
    )
    runs = orchestration.wait_for_task_runs(client, run_id, expected=6)
    states = {run.name: run.state.name for run in runs}
    for name in UPSTREAM_OF_TRAIN:
        expect(
            states.get(name) == "Cached",
            f"{name} was {states.get(name)}, not Cached: its input and code are "
            "those of the earlier run, so its cache key was found (run the flow "
            "once with the chapter's C first)",
        )
    for name in CHANGED:
        expect(
            states.get(name) == "Completed",
            f"{name} was {states.get(name)}: a new C changes train's cache key, so "
            "train and everything downstream of it must run",
        )
    for name in NEVER_CACHED:
        expect(
            states.get(name) == "Completed",
            f"{name} was {states.get(name)}: it is never cached (an outside read, a "
            "check or a side effect), so it runs every time",
        )
    return (
        "features came from the cache; train, with its new C, ran and so did "
        "evaluate after it; ingest, validate and register ran as always"
    )


def _executor(spec: dict, task: str) -> dict:
    label = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    executor = spec["components"][label]["executorLabel"]
    return spec["deploymentSpec"]["executors"][executor]["container"]


@exercise("ex-10-2")
def sized_spec(path) -> str:
    """The recompiled KFP YAML: retry on the train task, resources on its executor."""
    expect_type(path, (str, Path), "the path of the compiled pipeline YAML")
    expect(Path(path).is_file(), f"{path} does not exist: compile the pipeline to it")
    spec = yaml.safe_load(Path(path).read_text())
    tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
    expect("train-op" in tasks, f"no train-op task in the spec: it has {sorted(tasks)}")
    retries = tasks["train-op"].get("retryPolicy", {}).get("maxRetryCount")
    expect(
        retries == 1,
        f"train-op's retry policy allows {retries} retries: set_retry(num_retries=1) "
        "on the train task (a retry policy belongs to the task in the DAG)",
    )
    resources = _executor(spec, "train-op").get("resources", {})
    cpu = resources.get("resourceCpuLimit")
    memory = resources.get("resourceMemoryLimit")
    expect(
        cpu is not None and float(cpu) == 2,
        f"train-op's executor has a CPU limit of {cpu}: set_cpu_limit('2') on "
        "the train task (resources land in its executor's container spec)",
    )
    expect(
        memory in ("4G", "4000000000", 4e9),
        f"train-op's executor has a memory limit of {memory}: set_memory_limit('4G')",
    )
    sized = [
        name
        for name in tasks
        if name != "train-op" and _executor(spec, name).get("resources")
    ]
    expect(
        not sized,
        f"{', '.join(sized)} got resources too: only train needs 2 CPUs and 4 GB",
    )
    return (
        "the retry policy sits on the train task in the DAG; the CPU and memory "
        "limits on its executor's container"
    )


@exercise("ex-10-3")
def notify_last(dag_text, *, original) -> str:
    """The Airflow DAG file with a notify task fed by register's result."""
    expect_type(dag_text, str, "the text of the DAG file")
    try:
        dag = orchestration.taskflow_summary(dag_text)
    except (SyntaxError, ValueError) as error:
        raise Wrong(f"the file does not parse as one TaskFlow DAG: {error}") from None
    expect("notify" in dag.tasks, f"no notify task: the DAG has {dag.tasks}")
    lost = sorted(set(original.edges) - set(dag.edges))
    expect(not lost, f"the new file lost edges of the original: {lost}")
    expect(
        ("register", "notify") in dag.edges,
        "notify does not receive register's result: call notify(register(...)) so "
        "the return value makes the edge register >> notify",
    )
    after = [down for up, down in dag.edges if up == "notify"]
    expect(not after, f"notify is not last: {after} run after it")
    return "register >> notify, and notify is the last task of the DAG"
