"""Plumbing for running the course pipeline under an orchestrator (chapter 10).

Chapter 10 runs the training pipeline with Prefect, compiles it for Kubeflow
Pipelines and writes it as an Airflow DAG. The lessons call those tools' own
APIs; this module only holds what is not the lesson:

- :func:`prefect_env` is the environment Prefect must see *before it is
  imported* (Prefect reads its settings once, at import): a home folder inside
  the workspace, the API URL of a local server, no telemetry, no hidden
  ephemeral server (the profile Prefect ships as active, ``ephemeral``, allows
  one), no console log lines with clock times.
- :func:`prefect_server` runs ``prefect server start`` on 127.0.0.1 for the
  duration of a ``with`` block, through :func:`mlops_course.servers.serve`.
- :func:`wait_for_task_runs` waits until the server has recorded every task
  run of a flow run: Prefect 3 reports task states as events, which the server
  writes a moment after the flow returns.
- :func:`taskflow_summary` reads an Airflow TaskFlow DAG file with :mod:`ast`
  (Airflow is not installed) and returns its tasks and dependencies.
"""

from __future__ import annotations

import ast
import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops_course.servers import HOST, Server, serve
from mlops_course.shell import executable

#: Settings shared by the server process and the kernel that runs flows.
PREFECT_SETTINGS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # server heartbeat to Prefect
    "DO_NOT_TRACK": "1",  # client-side telemetry
    "PREFECT_UI_ENABLED": "false",  # the API is enough; the UI bundle is not needed
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",  # never start a hidden server
    # Flow and task states go to the API; the console would print clock times.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
}

#: Task-run state types after which nothing more happens to the task run.
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def prefect_env(home: str | os.PathLike, port: int) -> dict[str, str]:
    """Prefect's environment: ``home`` for its files, the server on ``port``."""
    home = Path(home).resolve()
    return {
        **PREFECT_SETTINGS,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://{HOST}:{port}/api",
    }


def prefect_server_args(*, services: bool = True) -> list[str]:
    """The ``prefect server start`` argv; ``{host}`` and ``{port}`` to fill."""
    args = [
        executable("prefect"),
        "server",
        "start",
        "--host",
        "{host}",
        "--port",
        "{port}",
        "--no-ui",
        "--analytics-off",
        "--no-scheduler",  # a deployment's schedule is stored, no run made from it
        "--no-late-runs",
    ]
    return args if services else [*args, "--no-services"]


@contextlib.contextmanager
def prefect_server(
    home: str | os.PathLike,
    *,
    port: int,
    timeout: float = 90,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Run a Prefect server (SQLite database in ``home``) on ``port``; yield it.

    The server's log goes to ``home/server.log``; the process group is stopped
    when the block ends.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    with serve(
        prefect_server_args(),
        port=port,
        health="/api/health",
        timeout=timeout,
        env={**prefect_env(home, port), **(env or {})},
        cwd=home,
        log_path=home / "server.log",
    ) as server:
        yield server


def wait_for_task_runs(
    client, flow_run_id, *, expected: int, timeout: float = 60
) -> list:
    """The flow run's task runs, once the server holds ``expected`` final ones.

    ``client`` is a synchronous Prefect client (``get_client(sync_client=True)``).
    Task runs come back in the order they started.
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    flow_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + timeout
    while True:
        runs = client.read_task_runs(
            flow_run_filter=flow_filter, sort=TaskRunSort.EXPECTED_START_TIME_ASC
        )
        done = [r for r in runs if r.state and r.state.type.value in FINAL_STATES]
        if len(done) >= expected and len(done) == len(runs):
            return runs
        if time.monotonic() > deadline:
            states = [(r.name, r.state and r.state.type.value) for r in runs]
            raise TimeoutError(
                f"expected {expected} finished task runs after {timeout:.0f} s, "
                f"the server has {states}"
            )
        time.sleep(0.2)


@dataclass(frozen=True)
class TaskflowDag:
    """What an Airflow TaskFlow file declares: its DAG, tasks and their edges."""

    dag_id: str
    tasks: list[str]
    edges: list[tuple[str, str]]
    task_arguments: dict[str, dict[str, object]] = field(default_factory=dict)
    dag_arguments: dict[str, object] = field(default_factory=dict)


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr if isinstance(target.value, ast.Name) else ""
    return target.id if isinstance(target, ast.Name) else ""


def _literal_keywords(node: ast.expr) -> dict[str, object]:
    if not isinstance(node, ast.Call):
        return {}
    found = {}
    for keyword in node.keywords:
        try:
            found[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            found[keyword.arg] = ast.unparse(keyword.value)
    return found


def taskflow_summary(source: str) -> TaskflowDag:
    """Parse an Airflow 3 TaskFlow DAG file (``@dag`` / ``@task``) without Airflow.

    Tasks are the ``@task``-decorated functions inside the ``@dag`` function;
    an edge ``a -> b`` exists where the result of calling ``a`` is passed to
    ``b`` (TaskFlow's way of declaring a dependency). Raises :class:`SyntaxError`
    for a file Python cannot parse and :class:`ValueError` for one without
    exactly one ``@dag`` function.
    """
    tree = ast.parse(source)
    dags = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any(_decorator_name(d) == "dag" for d in node.decorator_list)
    ]
    if len(dags) != 1:
        raise ValueError(f"expected one @dag function, found {len(dags)}")
    dag_function = dags[0]
    dag_decorator = next(
        d for d in dag_function.decorator_list if _decorator_name(d) == "dag"
    )
    dag_arguments = _literal_keywords(dag_decorator)
    tasks, task_arguments = [], {}
    for node in dag_function.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if _decorator_name(decorator) == "task":
                    tasks.append(node.name)
                    task_arguments[node.name] = _literal_keywords(decorator)
    # variable -> the task whose result it holds; a task's result passed to
    # another task (directly, in a variable, or inside a container) is an edge
    produced_by: dict[str, str] = {}
    edges: list[tuple[str, str]] = []

    def upstreams(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Name):
            return [produced_by[node.id]] if node.id in produced_by else []
        if isinstance(node, ast.Call):
            called = visit(node)
            if called is not None:
                return [called]
        return [u for child in ast.iter_child_nodes(node) for u in upstreams(child)]

    def visit(call: ast.Call) -> str | None:
        if not (isinstance(call.func, ast.Name) and call.func.id in tasks):
            return None
        for argument in [*call.args, *(k.value for k in call.keywords)]:
            for upstream in upstreams(argument):
                if (upstream, call.func.id) not in edges:
                    edges.append((upstream, call.func.id))
        return call.func.id

    for node in dag_function.body:
        value = node.value if isinstance(node, ast.Assign | ast.Expr) else None
        if not isinstance(value, ast.Call):
            continue
        called = visit(value)
        if called is not None and isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    produced_by[target.id] = called
    return TaskflowDag(
        dag_id=str(dag_arguments.get("dag_id", dag_function.name)),
        tasks=tasks,
        edges=edges,
        task_arguments=task_arguments,
        dag_arguments=dag_arguments,
    )
