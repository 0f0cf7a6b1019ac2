"""Tests of mlops_course.orchestration: Prefect settings and server, DAG parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mlops_course import orchestration, servers

DAG = textwrap.dedent(
    """
    from datetime import timedelta

    from airflow.sdk import dag, task


    @dag(dag_id="weekly", schedule="@weekly", catchup=False)
    def pipeline():
        @task(retries=3, retry_delay=timedelta(minutes=2))
        def extract() -> str:
            return "a"

        @task
        def clean(path: str) -> str:
            return path

        @task()
        def fit(path: str, options: dict) -> str:
            return path

        @task
        def report(model: str, extra: list) -> None:
            print(model, extra)

        def helper():  # not a task
            return 1

        raw = extract()
        tidy = clean(path=raw)
        model = fit(tidy, {"source": raw, "n": helper()})
        report(fit(tidy, {}), [model])


    pipeline()
    """
)


def test_taskflow_summary_finds_tasks_and_edges():
    summary = orchestration.taskflow_summary(DAG)
    assert summary.dag_id == "weekly"
    assert summary.tasks == ["extract", "clean", "fit", "report"]
    assert summary.edges == [
        ("extract", "clean"),  # keyword argument
        ("clean", "fit"),
        ("extract", "fit"),  # inside a dict argument
        ("fit", "report"),  # a nested call and a variable in a list
    ]
    assert summary.dag_arguments == {
        "dag_id": "weekly",
        "schedule": "@weekly",
        "catchup": False,
    }
    assert summary.task_arguments["extract"] == {
        "retries": 3,
        "retry_delay": "timedelta(minutes=2)",  # not a literal: kept as source
    }
    assert summary.task_arguments["clean"] == {}


def test_taskflow_summary_dag_id_defaults_to_function_name():
    source = DAG.replace('dag_id="weekly", ', "")
    assert orchestration.taskflow_summary(source).dag_id == "pipeline"


def test_taskflow_summary_refuses_files_without_one_dag():
    with pytest.raises(ValueError, match="expected one @dag function, found 0"):
        orchestration.taskflow_summary("def pipeline():\n    pass\n")
    with pytest.raises(SyntaxError):
        orchestration.taskflow_summary("@dag(\ndef broken(:\n")


def test_prefect_env_points_at_loopback_and_home(tmp_path):
    env = orchestration.prefect_env(tmp_path / "prefect", 4321)
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"
    assert env["PREFECT_HOME"] == str((tmp_path / "prefect").resolve())
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_SERVER_EPHEMERAL_ENABLED"] == "false"


def test_prefect_server_args_bind_placeholders():
    args = orchestration.prefect_server_args()
    assert args[1:3] == ["server", "start"]
    assert "{host}" in args and "{port}" in args and "--no-ui" in args
    assert "--no-services" not in args
    assert orchestration.prefect_server_args(services=False)[-1] == "--no-services"


SETTINGS_SCRIPT = (
    "from prefect.settings import get_current_settings; s = get_current_settings(); "
    "print(s.server.ephemeral.enabled, s.api.url)"
)


@pytest.mark.slow
def test_prefect_s_shipped_profile_allows_a_temporary_server_our_env_does_not(
    tmp_path,
):
    # Chapter 10 says: the field defaults to false, but the profile Prefect ships
    # as active ("ephemeral") turns it on; with PREFECT_API_URL unset, the first
    # API call then starts a temporary server. prefect_env turns that off.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    clean["PREFECT_HOME"] = str(tmp_path / "fresh-home")  # no profiles.toml there

    def resolved(env: dict[str, str]) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", SETTINGS_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.split()

    assert resolved(clean) == ["True", "None"]
    ours = {**clean, **orchestration.prefect_env(tmp_path / "home", 4321)}
    assert resolved(ours) == ["False", "http://127.0.0.1:4321/api"]


FLOW_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from prefect import flow, get_client, task
    from mlops_course import orchestration

    calls = []

    @task(task_run_name="flaky", retries=1, retry_delay_seconds=0)
    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("first call fails")
        return 2

    @task(task_run_name="double")
    def double(x):
        return 2 * x

    @flow(name="t")
    def pipeline():
        return double(flaky())

    state = pipeline(return_state=True)
    with get_client(sync_client=True) as client:
        runs = orchestration.wait_for_task_runs(
            client, state.state_details.flow_run_id, expected=2
        )
        try:
            orchestration.wait_for_task_runs(
                client, state.state_details.flow_run_id, expected=3, timeout=0.5
            )
            timeout = "no error"
        except TimeoutError as error:
            timeout = str(error)
    print(json.dumps({
        "flow": state.name,
        "tasks": [[r.name, r.state.name, r.run_count] for r in runs],
        "timeout": timeout,
    }))
    """
)


@pytest.mark.slow
def test_prefect_server_records_a_flow_run_and_stops(tmp_path):
    home = tmp_path / "prefect"
    port = servers.free_port()
    with orchestration.prefect_server(home, port=port) as server:
        assert server.port == port
        env = {**os.environ, **orchestration.prefect_env(home, port)}
        done = subprocess.run(
            [sys.executable, "-c", FLOW_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["flow"] == "Completed"
    assert result["tasks"] == [["flaky", "Completed", 2], ["double", "Completed", 1]]
    assert "expected 3 finished task runs" in result["timeout"]
    assert (home / "prefect.db").is_file()  # the database lives in the given home
    assert not servers.port_is_open(port)
