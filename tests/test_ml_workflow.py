"""Chapter 11's CI workflow template: valid, gated in order, its commands exist.

The template (`project_template/.github/workflows/ml.yml`) is what a project
like the Phase 1 capstone would put in its own `.github/workflows/`; it is not
one of this repository's workflows.
"""

from __future__ import annotations

import importlib.util
import json
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

from mlops_course import data, dvc_stages, modeling
from mlops_course.serving import Settings, to_records
from tests.serving_helpers import client_for

TEMPLATE = dvc_stages.TEMPLATE
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
    stages = {c[3] for c in commands if c[2:3] == ["mlops_course.dvc_stages"]}
    assert stages == {"prepare", "train", "evaluate"} <= set(dvc_stages.STAGES)


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
@pytest.mark.anyio
async def test_gate_and_register_jobs_run_against_a_real_registry(tmp_path):
    """The evaluate, gate and register steps with an MLflow SQLite registry: the
    first model becomes champion and chapter 8's service serves it; a model
    trained on a broken feed is refused."""
    project = tmp_path / "project"
    (project / "ci").mkdir(parents=True)
    for script in ("ci/gate.py", "ci/champion.py"):
        (project / script).write_text((TEMPLATE / script).read_text())
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking)
    env["MLFLOW_ARTIFACTS_DESTINATION"] = str(tmp_path / "artifacts")
    split = data.time_split(data.generate_applications(3_000, seed=1))
    prepared = project / "data" / "prepared"
    prepared.mkdir(parents=True)
    split.valid.to_parquet(prepared / "valid.parquet")
    holdout = data.drift_scenario("none", 1_500, seed=11).frame
    holdout.to_parquet(prepared / "test.parquet")
    (project / "models").mkdir()

    def train(frame):
        frame.to_parquet(prepared / "train.parquet")
        model = modeling.make_model("logreg").fit(*modeling.features_and_target(frame))
        joblib.dump(model, project / "models" / "model.joblib")

    def job(*args):
        return _python(list(args), project, env)

    train(split.train)
    evaluated = job("-m", "mlops_course.dvc_stages", "evaluate")  # the evaluate job
    assert evaluated.returncode == 0, evaluated.stderr
    threshold = json.loads((project / "metrics.json").read_text())["threshold"]
    first = job("ci/champion.py", "--download", "champion/model.joblib")
    assert first.returncode == 0 and "nothing to compare" in first.stdout, first.stderr
    assert job("ci/gate.py").returncode == 0
    registered = job(
        "ci/champion.py", "--register", "models/model.joblib", "--metrics",
        "metrics.json",
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert "version 1 is now credit-default@champion" in registered.stdout

    # Chapter 8's service loads the CI-promoted champion and answers with it.
    import mlflow

    settings = Settings(
        model_uri="models:/credit-default@champion", tracking_uri=tracking
    )
    row = to_records(holdout.iloc[:1])[0]
    try:
        async with client_for(settings) as api:
            meta = (await api.get("/metadata")).json()
            response = await api.post("/predict", json=row)
    finally:
        mlflow.set_tracking_uri(None)
    assert (meta["model_version"], meta["threshold"]) == ("1", threshold)
    assert meta["threshold_source"] == "model metadata"
    assert response.status_code == 200, response.text
    served = joblib.load(project / "models" / "model.joblib")
    expected = served.predict_proba(holdout[data.FEATURES].iloc[:1])[0, 1]
    assert response.json()["probability_of_default"] == pytest.approx(
        expected, abs=1e-6
    )

    fetched = job("ci/champion.py", "--download", "champion/model.joblib")
    assert "version 1" in fetched.stdout, fetched.stderr
    assert (project / "champion" / "model.joblib").is_file()
    assert (project / "champion" / "version.txt").read_text() == "1\n"
    # A verdict is bound to the champion and holdout it judged: a gate run on
    # other rows than the ones the register job sees is refused.
    train(split.train.iloc[::-1].reset_index(drop=True))  # same rows: not worse
    assert job("ci/gate.py").returncode == 0
    assert (
        json.loads((project / "gate.json").read_text())["gate.champion_version"] == "1"
    )
    holdout.iloc[:-1].to_parquet(prepared / "test.parquet")
    stale = job("ci/champion.py", "--register", "models/model.joblib")
    assert stale.returncode == 1, stale.stderr
    assert "version 2 registered but not promoted" in stale.stdout
    assert "another holdout" in stale.stdout
    holdout.to_parquet(prepared / "test.parquet")
    # The mistake: a model trained on the broken feed, scored on clean rows.
    train(data.drift_scenario("broken_feed", 3_000, seed=2).frame)
    gate = job("ci/gate.py")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "FAIL improvement" in gate.stdout
    refused = job("ci/champion.py", "--register", "models/model.joblib")
    assert refused.returncode == 1
    assert "version 3 registered but refused by the gate" in refused.stdout


def test_register_job_hands_the_threshold_over(workflow):
    """The register job downloads the metrics artifact the evaluate job uploaded
    and passes it to ci/champion.py: the threshold is served with the model."""
    jobs = workflow["jobs"]
    uploaded = {
        name: step["with"]["name"]
        for name, job in jobs.items()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/upload-artifact")
    }
    assert uploaded == {"train": "candidate", "evaluate": "metrics", "gate": "gate"}
    register = jobs["register"]["steps"]
    downloaded = {
        step["with"]["name"]
        for step in register
        if step.get("uses", "").startswith("actions/download-artifact")
    }
    assert downloaded == {"candidate", "metrics", "gate"}
    runs = [shlex.split(step["run"]) for step in register if "run" in step]
    (command,) = [args for args in runs if "--register" in args]
    assert command[command.index("--metrics") + 1] == "metrics.json"
