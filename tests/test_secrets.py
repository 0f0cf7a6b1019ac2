"""Secrets stay out of the repository: detect-secrets, offline, as the hook runs it.

.secrets.baseline lists what the scanner reports in the tracked files today,
each finding audited (``is_secret: false``: digests in tests, a vendored file's
checksum, chapter 6's deliberately bad Dockerfile). Its settings skip stored
images in notebooks, the generated Evidently reports and the student notebooks
(generated copies of the chapters, which are scanned), and add the course's
own detector (tools/secret_literals.py: a PASSWORD/TOKEN/SECRET variable set to
a literal). Any finding not in the baseline fails.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import string
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from tools.nbchecks import ROOT

BASELINE = ROOT / ".secrets.baseline"
HOOK = str(Path(sys.executable).parent / "detect-secrets-hook")
NOTEBOOK = "notebooks/05_serving_fastapi.ipynb"


def run_hook(
    files: list[str], cwd: Path, baseline: Path
) -> subprocess.CompletedProcess:
    """The pre-commit hook's command on ``files`` (0: clean; 1: new findings)."""
    command = [HOOK, "--baseline", str(baseline), *files]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def test_the_hook_runs_offline_in_pre_commit():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    hook = hooks["detect-secrets"]
    assert hook["entry"] == "detect-secrets-hook --baseline .secrets.baseline"
    assert hook["language"] == "system"  # installed from the lock, no download


def test_every_accepted_finding_was_audited():
    baseline = json.loads(BASELINE.read_text())
    findings = [f for items in baseline["results"].values() for f in items]
    assert findings and all(f.get("is_secret") is False for f in findings)
    plugins = [p.get("path") for p in baseline["plugins_used"]]
    assert "file://tools/secret_literals.py" in plugins


@pytest.mark.slow  # scans every tracked file (about 15 s)
def test_tracked_files_hold_no_secret_beyond_the_baseline(tmp_path):
    baseline = tmp_path / "baseline.json"  # the hook may refresh line numbers
    shutil.copy(BASELINE, baseline)
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = [f for f in files if f != ".secrets.baseline" and (ROOT / f).is_file()]
    done = run_hook(files, ROOT, baseline)
    assert done.returncode in (0, 3), done.stdout + done.stderr  # 3: lines moved


def fake_aws_key_id() -> str:
    return "AKIA" + "".join(random.choices(string.ascii_uppercase + "234567", k=16))


# Each fake is built at run time, so no real-looking key is ever committed.
PLANTS = {
    "AWS Access Key": lambda: f'KEY_ID = "{fake_aws_key_id()}"',
    "Private Key": lambda: "-----BEGIN " + "RSA PRIVATE KEY-----",
    "Credential variable set to a literal": lambda: (
        f'os.environ["MLFLOW_TRACKING_PASSWORD"] = "{secrets.token_urlsafe(9)}"'
    ),
}


@pytest.fixture
def copy_of_the_repo_files(tmp_path) -> Path:
    """A git folder with the baseline, the course's detector and one notebook."""
    subprocess.run(
        ["git", "init", "-q", str(tmp_path)], check=True
    )  # the hook asks git
    shutil.copy(BASELINE, tmp_path / ".secrets.baseline")
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "secret_literals.py", tmp_path / "tools")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / NOTEBOOK, tmp_path / NOTEBOOK)
    return tmp_path


@pytest.mark.parametrize("kind", PLANTS)
def test_a_planted_fake_key_in_a_notebook_is_caught(copy_of_the_repo_files, kind):
    folder = copy_of_the_repo_files
    clean = run_hook([NOTEBOOK], folder, Path(".secrets.baseline"))
    assert clean.returncode == 0, clean.stdout + clean.stderr  # the control passes
    nb = nbformat.read(folder / NOTEBOOK, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("import os\n\n" + PLANTS[kind]()))
    nbformat.write(nb, folder / NOTEBOOK)
    caught = run_hook([NOTEBOOK], folder, Path(".secrets.baseline"))
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert "Potential secrets about to be committed" in caught.stdout
    assert f"Secret Type: {kind}" in caught.stdout


def test_a_password_read_from_the_environment_is_not_reported(copy_of_the_repo_files):
    folder = copy_of_the_repo_files
    nb = nbformat.read(folder / NOTEBOOK, as_version=4)
    source = (
        "import os\n\n"
        'password = os.environ["MLFLOW_TRACKING_PASSWORD"]\n'
        'os.environ["MLOPS_ADMIN_TOKEN"] = secrets.token_urlsafe()'
    )
    nb.cells.insert(3, nbformat.v4.new_code_cell(source))
    nbformat.write(nb, folder / NOTEBOOK)
    done = run_hook([NOTEBOOK], folder, Path(".secrets.baseline"))
    assert done.returncode == 0, done.stdout + done.stderr
