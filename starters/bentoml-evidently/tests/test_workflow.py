"""The CI workflow is valid GitHub Actions and builds the image after the tests."""

import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "ci.yml"


def test_the_workflow_matches_the_github_workflow_schema():
    check = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_built_only_after_the_tests_pass():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert jobs["image"]["needs"] == "test"
    runs = [step.get("run", "") for step in jobs["image"]["steps"]]
    build = next(i for i, r in enumerate(runs) if r.startswith("bentoml build"))
    image = next(i for i, r in enumerate(runs) if "bentoml containerize" in r)
    assert build < image
