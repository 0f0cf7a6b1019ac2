"""Scratch workspaces and the CLI runner."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from mlops_course import shell
from mlops_course.shell import CommandError, executable, run
from mlops_course.workspace import ENV_VAR, course_root, workspace


def test_workspace_is_fresh_on_every_call(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    first = workspace("99_demo")
    (first / "left_over.txt").write_text("x")
    again = workspace("99_demo")
    assert again == tmp_path / "99_demo" and not any(again.iterdir())
    (again / "kept.txt").write_text("y")
    assert (workspace("99_demo", fresh=False) / "kept.txt").exists()


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", "/abs", ".hidden"])
def test_workspace_refuses_names_that_escape(bad, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ValueError, match="simple slug"):
        workspace(bad)


def test_default_root_is_the_checkout(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    root = course_root()
    assert root is not None and (root / "_toc.yml").is_file()
    monkeypatch.chdir(root / "notebooks")
    assert course_root() == root


def test_run_resolves_tools_beside_python_and_reports_failures(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find on PATH
    assert executable("python") == str(Path(sys.executable).parent / "python")
    monkeypatch.undo()
    done = run(["git", "init", "-q", str(tmp_path / "repo")])
    assert done.returncode == 0
    with pytest.raises(CommandError, match="exited with"):
        run(["git", "-C", str(tmp_path / "repo"), "log"])
    with pytest.raises(FileNotFoundError, match="not installed"):
        executable("surely-not-a-real-tool")


def test_sh_splits_like_a_shell_and_runs_no_shell(tmp_path):
    out = shell.sh(
        "python -c 'import sys; print(sys.argv[1:])' 'a b' '$HOME' '*'", cwd=tmp_path
    )
    assert out == "['a b', '$HOME', '*']"


def test_sh_raises_with_the_output_on_failure(tmp_path):
    with pytest.raises(shell.CommandError, match="boom"):
        shell.sh("python -c 'import sys; sys.exit(\"boom\")'", cwd=tmp_path)


def test_a_command_past_its_timeout_is_stopped_with_its_children(tmp_path):
    marker = tmp_path / "grandchild.pid"
    parent = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; "
        "time.sleep(60)']); "
        f"open({str(marker)!r}, 'w').write(str(child.pid)); time.sleep(60)"
    )
    with pytest.raises(CommandError, match="did not finish within 2 s"):
        run([sys.executable, "-c", parent], timeout=2)
    grandchild = int(marker.read_text())
    # The whole process group was signalled: the grandchild goes (a kill is
    # delivered asynchronously, so wait for it, within a bound), leaving at most
    # a zombie for init to reap.
    status = Path(f"/proc/{grandchild}/status")

    def gone() -> bool:
        try:
            return "State:\tZ" in status.read_text()
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 30
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone()
