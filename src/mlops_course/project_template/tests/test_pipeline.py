"""The whole loop, for real: DVC pipeline, drift, retrain, gate, MLflow registry.

Runs in a copy of the project made a git + DVC repository, with MLflow on a
SQLite file in it; nothing leaves the machine.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(args, cwd, env, ok=(0,)):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode in ok, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = tmp_path_factory.mktemp("project") / "p"
    shutil.copytree(ROOT, path, ignore=shutil.ignore_patterns("tests", ".git"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_TERMINAL_PROMPT="0")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{path / 'mlflow.db'}"
    env.pop("GITHUB_ENV", None)
    env.pop("GITHUB_OUTPUT", None)
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "learner@example.com"],
        ["git", "config", "user.name", "Learner"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        [sys.executable, "src/generate.py"],
        ["dvc", "add", "data/applications.parquet"],
        ["dvc", "repro"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "first model"],
    ):
        run(command, path, env)
    return path, env


def test_the_pipeline_writes_metrics_of_a_useful_model(project):
    path, _ = project
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["test"]["roc_auc"] > 0.6, metrics


def test_the_first_model_is_registered_with_its_lineage(project):
    path, env = project
    run([sys.executable, "ci/champion.py", "--download", "champion/model.joblib"],
        path, env)  # fmt: skip
    assert not (path / "champion").exists()  # no champion yet
    run([sys.executable, "ci/gate.py"], path, env)
    run_id = run([sys.executable, "src/track.py"], path, env).stdout.strip()
    run([sys.executable, "ci/champion.py", "--register", "models/model.joblib"],
        path, dict(env, MLFLOW_RUN_ID=run_id))  # fmt: skip

    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version_by_alias("credit-default", "champion")
    assert version.run_id == run_id  # the model lives in the tracked run
    logged = client.get_run(run_id).data
    assert logged.params["train.C"] == "1.0"
    assert "test.roc_auc" in logged.metrics
    lock = yaml.safe_load((path / "dvc.lock").read_text())
    md5 = lock["stages"]["prepare"]["deps"][0]["md5"]
    assert logged.tags["dvc.md5.data/applications.parquet"] == md5


def test_a_drifted_batch_triggers_a_retrain_that_is_gated(project):
    path, env = project
    batch = "data/incoming/batch.parquet"
    run([sys.executable, "monitor/new_batch.py", "covariate_shift", batch], path, env)
    run([sys.executable, "monitor/drift.py", batch], path, env)
    assert json.loads((path / "drift.json").read_text())["drifted"]
    run([sys.executable, "monitor/ingest.py", batch], path, env)
    run(["dvc", "add", "data/applications.parquet"], path, env)
    status = run(["dvc", "status", "--json"], path, env).stdout
    assert "prepare" in json.loads(status)  # new data: the pipeline is stale
    run(["dvc", "repro"], path, env)
    run([sys.executable, "ci/champion.py", "--download", "champion/model.joblib"],
        path, env)  # fmt: skip
    assert (path / "champion" / "model.joblib").is_file()
    gate = run([sys.executable, "ci/gate.py"], path, env, ok=(0, 1))
    verdict = json.loads((path / "gate.json").read_text())
    assert (gate.returncode == 0) == (verdict["gate.passed"] == "true")
    assert verdict["gate.improvement"] in {"pass", "fail"}
