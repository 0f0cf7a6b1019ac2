"""The harness can fail: broken notebooks (outside the book) are reported as failing.

Each fixture in tests/fixtures/ breaks one thing a real chapter could break: a
failing cell, a stored metric that no longer matches the code, a hidden download,
dirty stored outputs, state left by one run that trips the next. A good fixture
proves the checks pass when nothing is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest

from tools.nbchecks import CELL_TIMEOUT_S, ROOT, output_problems, read

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


def _harness(
    notebooks: list[str], tmp_path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
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
        env=dict(os.environ, **(env or {}), PYTHONPATH=path),
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


def test_nbval_gives_each_cell_the_course_timeout(request):
    """The one timeout of tools.nbchecks, set by conftest.py (nbval's is 2000 s)."""
    assert request.config.option.nbval_cell_timeout == CELL_TIMEOUT_S


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


@pytest.mark.slow
def test_a_run_leaves_no_feast_folder_in_the_system_temp_dir(tmp_path):
    # Importing Feast makes a feast_metrics_* folder in the temp dir, which Feast
    # removes only at a normal exit; nbval kills its kernels. The harness gives
    # every process of the run a temp dir inside its workspace root, removed at
    # the end: the system temp dir stays as it was.
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    done = _harness(["feast_temp_folder.ipynb"], tmp_path, {"TMPDIR": str(system_tmp)})
    assert done.returncode == 0, done.stdout[-3000:]
    assert "PASSED feast_temp_folder.ipynb::Cell 0" in done.stdout, done.stdout[-3000:]
    assert not list(system_tmp.rglob("feast_metrics_*"))


# ------------------------------------------------- a fresh machine: optional programs
#: Programs the course uses where they are installed; a fresh machine has neither,
#: and `make test` has no root to install them (.ci/run installs both).
OPTIONAL_PROGRAMS = {"redis-server": "redis", "chromium": "chromium"}


def _notebooks_mentioning(word: str) -> list[str]:
    """Notebooks whose code cells mention ``word`` (and so may need the program)."""
    found = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if word in code.lower():
            found.append(f"notebooks/{notebook.name}")
    return found


def _path_without(program: str, folder: Path) -> str:
    """``PATH`` with each folder holding ``program`` replaced by links to the rest."""
    parts = []
    for i, entry in enumerate(os.environ["PATH"].split(os.pathsep)):
        if not (Path(entry) / program).exists():
            parts.append(entry)
            continue
        shadow = folder / f"path-{i}"
        shadow.mkdir(parents=True)
        for item in Path(entry).iterdir():
            if item.name != program:
                (shadow / item.name).symlink_to(item)
        parts.append(str(shadow))
    return os.pathsep.join(parts)


def test_the_path_without_a_program_hides_it_and_nothing_else(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ["redis-server", "redis-cli"]:
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", path)
        hidden = _path_without("redis-server", tmp_path / "shadow")
    assert shutil.which("redis-server", path=hidden) is None
    assert shutil.which("redis-cli", path=hidden) is not None


def test_notebooks_that_use_an_optional_program_are_known():
    # Chapter 9 starts redis-server when it is there; no chapter runs Chromium
    # (chapter 3 shows screenshots stored in book/images, made by
    # `make mlflow-ui-images`; the book's browser check is tests/test_book.py).
    assert _notebooks_mentioning("redis") == ["notebooks/09_feature_store.ipynb"]
    assert _notebooks_mentioning("chromium") == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("program", "notebook"),
    [
        (program, notebook)
        for program, word in OPTIONAL_PROGRAMS.items()
        for notebook in _notebooks_mentioning(word)
    ],
)
def test_a_notebook_passes_nbval_without_an_optional_program(
    program, notebook, tmp_path
):
    # On a machine without the program the suite's own run of the notebook is
    # this test; where it is installed (CI), hide it from PATH and run nbval on
    # the notebook again: its stored outputs must not depend on the program.
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed: the suite ran {notebook} without it")
    path = _path_without(program, tmp_path)
    assert shutil.which(program, path=path) is None
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-k",
            "not papermill",
            "-q",
            notebook,
        ],  # fmt: skip
        cwd=ROOT,
        env=dict(os.environ, PATH=path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:]
