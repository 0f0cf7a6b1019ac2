"""The promotion workflow is valid, gated, and waits for a person before production."""

import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "promote.yml"


def test_the_workflow_matches_the_github_workflow_schema():
    check = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_production_needs_the_gate_the_shadow_and_an_approval():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert jobs["shadow"]["needs"] == "stage"
    assert jobs["promote"]["needs"] == "shadow"
    assert jobs["promote"]["environment"] == "production"
    runs = [s.get("run", "") for s in jobs["promote"]["steps"]]
    assert any(r.startswith("python promote.py promote") for r in runs)
