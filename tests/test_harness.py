"""The harness can fail: broken notebooks (outside the book) are reported as failing.

Each fixture in tests/fixtures/ breaks one thing a real chapter could break: a
failing cell, a stored metric that no longer matches the code, a hidden download,
dirty stored outputs, state left by one run that trips the next. A good fixture
proves the checks pass when nothing is wrong.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import papermill as pm
import pytest

from tests.nbchecks import ROOT, output_problems, read

FIXTURES = ROOT / "tests" / "fixtures"
OFFLINE_RUN = bool(
    os.environ.get("MLOPS_COURSE_IN_SANDBOX")
    or os.environ.get("MLOPS_COURSE_OFFLINE_GUARD")
)


def _nbval(notebook: str, tmp_path) -> subprocess.CompletedProcess:
    """Run nbval on one fixture, outside this repo's pytest configuration."""
    shutil.copy(FIXTURES / notebook, tmp_path / notebook)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            notebook,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _harness(notebooks: list[str], tmp_path) -> subprocess.CompletedProcess:
    """Run the course's own notebook harness (conftest.py) as `make test` does."""
    for notebook in notebooks:
        shutil.copy(FIXTURES / notebook, tmp_path / notebook)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
        "--nbval", "--nbval-current-env", "-n", "2", "--dist", "loadfile",
        "-rA", *notebooks,
    ]  # fmt: skip
    return subprocess.run(
        command,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_each_notebook_runs_twice_in_a_row_in_one_workspace(tmp_path):
    # leftover_state.ipynb keeps its workspace between runs (fresh=False) and
    # fails when it finds its own earlier file. Papermill runs it first and
    # passes; nbval runs it second, on the same worker and workspace root, and
    # must fail. Separate roots, or one run only, would let it pass.
    done = _harness(["good.ipynb", "leftover_state.ipynb"], tmp_path)
    out = done.stdout
    assert done.returncode == 1, out[-3000:]
    assert "PASSED leftover_state.ipynb::papermill" in out, out[-3000:]
    assert "FAILED leftover_state.ipynb::Cell 1" in out, out[-3000:]
    assert "a previous run left created.txt behind" in out
    assert "PASSED good.ipynb::papermill" in out and "PASSED good.ipynb::Cell 1" in out
    assert "1 failed, 5 passed" in out, out[-1000:]


@pytest.mark.slow
def test_nbval_passes_a_notebook_whose_outputs_match(tmp_path):
    done = _nbval("good.ipynb", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.slow
def test_nbval_fails_on_a_changed_stored_metric(tmp_path):
    done = _nbval("changed_output.ipynb", tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "14.9999" in done.stdout and "15.0" in done.stdout


@pytest.mark.slow
def test_papermill_fails_on_a_failing_cell(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="ZeroDivisionError"):
        pm.execute_notebook(
            str(FIXTURES / "failing_cell.ipynb"),
            str(tmp_path / "out.ipynb"),
            kernel_name="python3",
            progress_bar=False,
        )


@pytest.mark.skipif(not OFFLINE_RUN, reason="run through tools/offline (make test)")
def test_the_run_is_offline():
    with pytest.raises(OSError):
        socket.getaddrinfo("pypi.org", 443)


@pytest.mark.slow
@pytest.mark.skipif(not OFFLINE_RUN, reason="run through tools/offline (make test)")
def test_papermill_fails_on_a_hidden_download(tmp_path):
    with pytest.raises(
        pm.PapermillExecutionError, match="URLError|unreachable|resolution"
    ):
        pm.execute_notebook(
            str(FIXTURES / "download.ipynb"),
            str(tmp_path / "out.ipynb"),
            kernel_name="python3",
            progress_bar=False,
        )


def test_output_checks_find_errors_warnings_and_paths():
    problems = output_problems(read(FIXTURES / "dirty_outputs.ipynb"))
    assert any(p.startswith("cell 2: stored error ZeroDivisionError") for p in problems)
    assert any(p.startswith("cell 3: a warning") for p in problems)
    assert any(p.startswith("cell 4: a path of the machine") for p in problems)
    assert not any(p.startswith("cell 5") for p in problems)  # tagged raises-exception
    assert not output_problems(read(FIXTURES / "good.ipynb"))
