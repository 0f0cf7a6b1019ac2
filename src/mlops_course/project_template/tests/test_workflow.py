"""The workflow is valid GitHub Actions and retrains only after the drift check."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "retrain-on-drift.yml"


def load() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as True
    return workflow


def test_the_workflow_matches_the_github_workflow_schema():
    check = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_retraining_waits_for_the_drift_verdict():
    jobs = load()["jobs"]
    assert jobs["retrain"]["needs"] == "drift"
    assert "needs.drift.outputs.drifted == 'true'" in jobs["retrain"]["if"]
    (check,) = [s for s in jobs["drift"]["steps"] if s.get("id") == "check"]
    assert "monitor/drift.py" in check["run"]
    assert jobs["drift"]["outputs"]["drifted"] == "${{ steps.check.outputs.drifted }}"


def test_triggers_include_a_schedule_and_the_feed_event():
    on = load()["on"]
    assert on["schedule"] and on["repository_dispatch"]["types"] == ["new-batch"]


def test_every_script_the_workflow_runs_exists():
    runs = "\n".join(
        step.get("run", "") for job in load()["jobs"].values() for step in job["steps"]
    )
    scripts = set(re.findall(r"python ([\w/]+\.py)", runs))
    assert scripts, runs
    assert all((ROOT / script).is_file() for script in scripts), scripts
