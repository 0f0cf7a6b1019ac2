"""Chapter 11's CI workflow template: valid, gated in order, its commands exist.

The template (`project_template/.github/workflows/ml.yml`) is what a project
like the Phase 1 capstone would put in its own `.github/workflows/`; it is not
one of this repository's workflows.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import joblib
import pytest
import yaml

from mlops_course import data, modeling, pipeline

TEMPLATE = pipeline.TEMPLATE
WORKFLOW = TEMPLATE / ".github" / "workflows" / "ml.yml"
ORDER = ["test", "validate", "train", "evaluate", "gate", "register"]
CHECK = [
    str(Path(sys.executable).parent / "check-jsonschema"),
    "--builtin-schema",
    "vendor.github-workflows",
]


@pytest.fixture(scope="module")
def workflow() -> dict:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    loaded["on"] = loaded.pop(True)  # YAML 1.1 reads the key `on` as True
    return loaded


def needs(job: dict) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def test_jobs_form_one_chain_in_gate_order(workflow):
    jobs = workflow["jobs"]
    graph = {name: needs(job) for name, job in jobs.items()}
    assert list(TopologicalSorter(graph).static_order()) == ORDER
    # A chain, not just an order: each job waits for exactly the one before it.
    for before, after in zip(ORDER, ORDER[1:], strict=False):
        assert graph[after] == [before]
    assert graph["test"] == []


def test_retraining_triggers_are_declared(workflow):
    on = workflow["on"]
    assert {"push", "pull_request", "schedule", "workflow_dispatch"} <= set(on)
    (cron,) = (entry["cron"] for entry in on["schedule"])
    assert len(cron.split()) == 5
    assert "drift-detected" in on["repository_dispatch"]["types"]
    assert workflow["permissions"] == {"contents": "read"}


def test_register_needs_main_and_an_approval(workflow):
    register = workflow["jobs"]["register"]
    assert register["if"] == "github.ref == 'refs/heads/main'"
    assert register["environment"] == "model-registry"


def test_every_command_the_jobs_run_exists(workflow):
    commands = [
        shlex.split(step["run"])
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    modules = [c[2] for c in commands if c[:2] == ["python", "-m"]]
    scripts = [c[1] for c in commands if c[0] == "python" and c[1].endswith(".py")]
    assert "mlops_course.validation" in modules and "ci/gate.py" in scripts
    for module in modules:
        if module != "pytest":
            assert importlib.util.find_spec(module) is not None, module
    for script in scripts:
        source = (TEMPLATE / script).read_text()
        compile(source, script, "exec")  # a syntax error fails here
    stages = {c[3] for c in commands if c[2:3] == ["mlops_course.pipeline"]}
    assert stages == {"prepare", "train", "evaluate"} <= set(pipeline.STAGES)


def test_template_matches_the_github_workflow_schema(tmp_path):
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text()
    broken.write_text(re.sub(r"needs: train\n", "needs: train\n    foo: bar\n", text))
    done = subprocess.run(
        CHECK + [str(WORKFLOW), str(broken)], capture_output=True, text=True
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    failing = {line.split("::$", 1)[0].strip() for line in output.splitlines()
               if "::$" in line}  # fmt: skip
    assert failing == {str(broken)}, output


def _python(
    args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_gate_and_register_jobs_run_against_a_real_registry(tmp_path):
    """The gate and register scripts with an MLflow SQLite registry: the first
    model becomes champion; a model trained on a broken feed is refused."""
    project = tmp_path / "project"
    (project / "ci").mkdir(parents=True)
    for script in ("ci/gate.py", "ci/champion.py"):
        (project / script).write_text((TEMPLATE / script).read_text())
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    env["MLFLOW_ARTIFACTS_DESTINATION"] = str(tmp_path / "artifacts")
    holdout = data.drift_scenario("none", 1_500, seed=11).frame
    (project / "data" / "prepared").mkdir(parents=True)
    holdout.to_parquet(project / "data" / "prepared" / "test.parquet")
    (project / "models").mkdir()

    def train(frame):
        model = modeling.make_model("logreg").fit(*modeling.features_and_target(frame))
        joblib.dump(model, project / "models" / "model.joblib")

    def job(*args):
        return _python(list(args), project, env)

    train(data.generate_applications(3_000, seed=1))
    first = job("ci/champion.py", "--download", "champion/model.joblib")
    assert first.returncode == 0 and "nothing to compare" in first.stdout, first.stderr
    assert job("ci/gate.py").returncode == 0
    registered = job("ci/champion.py", "--register", "models/model.joblib")
    assert registered.returncode == 0, registered.stderr
    assert "version 1 is now credit-default@champion" in registered.stdout

    fetched = job("ci/champion.py", "--download", "champion/model.joblib")
    assert "version 1" in fetched.stdout, fetched.stderr
    assert (project / "champion" / "model.joblib").is_file()
    # The mistake: a model trained on the broken feed, scored on clean rows.
    train(data.drift_scenario("broken_feed", 3_000, seed=2).frame)
    gate = job("ci/gate.py")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "FAIL improvement" in gate.stdout
    refused = job("ci/champion.py", "--register", "models/model.joblib")
    assert refused.returncode == 1
    assert "version 2 registered but refused by the gate" in refused.stdout
