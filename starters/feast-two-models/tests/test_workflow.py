"""The feature workflow is valid and materializes only what it applied."""

import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOW = (
    Path(__file__).resolve().parents[1] / ".github" / "workflows" / "features.yml"
)


def test_the_workflow_matches_the_github_workflow_schema():
    check = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_materialization_runs_after_apply_on_a_schedule():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["schedule"]  # YAML 1.1 reads the key `on` as True
    runs = [s.get("run", "") for s in workflow["jobs"]["materialize"]["steps"]]
    apply = next(i for i, r in enumerate(runs) if r.endswith(" apply"))
    materialize = next(i for i, r in enumerate(runs) if "materialize-incremental" in r)
    assert apply < materialize
