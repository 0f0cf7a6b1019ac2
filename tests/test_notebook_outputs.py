"""Notebook hygiene and the course's offline pre-commit configuration (chapter 6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from mlops_course.notebook_outputs import main, notebook_problems
from mlops_course.shell import executable, run
from mlops_course.workspace import course_root

ROOT = course_root()


def _notebook(path: Path, outputs, tags=()) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = outputs
    cell.metadata["tags"] = list(tags)
    nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def test_notebook_problems_finds_errors_warnings_and_paths(tmp_path):
    out = nbformat.v4.new_output
    dirty = _notebook(
        tmp_path / "dirty.ipynb",
        [
            out("stream", name="stdout", text="saved to /home/alice/model.pkl\n"),
            out("stream", name="stderr", text="FutureWarning: something changes\n"),
            out("error", ename="KeyError", evalue="'x'", traceback=[]),
        ],
    )
    problems = notebook_problems(dirty)
    assert len(problems) == 3
    assert not any(
        "/home/alice" in p for p in problems
    )  # the path itself is not echoed
    clean = _notebook(
        tmp_path / "clean.ipynb", [out("stream", name="stdout", text="ok\n")]
    )
    assert notebook_problems(clean) == []
    lesson = _notebook(
        tmp_path / "lesson.ipynb",
        [out("error", ename="ValueError", evalue="bad", traceback=[])],
        tags=["raises-exception"],
    )
    assert notebook_problems(lesson) == []
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert "not a readable notebook" in notebook_problems(tmp_path / "broken.ipynb")[0]


def test_command_line_exit_codes(tmp_path, capsys):
    out = nbformat.v4.new_output
    bad = _notebook(tmp_path / "bad.ipynb", [out("error", ename="E", evalue="x")])
    assert main([str(bad)]) == 1
    assert "bad.ipynb: cell 0: stored error E: x" in capsys.readouterr().out
    good = _notebook(tmp_path / "good.ipynb", [])
    assert main([str(good)]) == 0


def test_the_course_notebooks_pass_the_hook():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert [p for nb in notebooks for p in notebook_problems(nb)] == []


def test_pre_commit_config_is_local_and_offline():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert [r["repo"] for r in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {h["language"] for h in hooks} <= {"system", "fail"}
    assert not any(h.get("additional_dependencies") for h in hooks)
    # Each system hook's program is installed in the course environment.
    programs = {
        h["id"]: h["entry"].split()[0] for h in hooks if h["language"] == "system"
    }
    assert set(programs) >= {"ruff-check", "ruff-format", "hadolint"}
    for hook_id, program in programs.items():
        assert executable(program), hook_id  # raises if the program is missing


def _repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "repo"
    run(["git", "init", "-q", "-b", "main", str(repo)])
    run(["git", "config", "user.name", "Test"], cwd=repo)
    run(["git", "config", "user.email", "test@example.com"], cwd=repo)
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo)
    shutil.copytree(ROOT / "docker", repo / "docker")
    (repo / "app.py").write_text('print("ok")\n')
    baseline = run(["detect-secrets", "scan"], cwd=repo).stdout  # nothing audited yet
    (repo / ".secrets.baseline").write_text(baseline)
    run(["git", "add", "."], cwd=repo)
    return repo, {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}


@pytest.mark.slow
def test_pre_commit_passes_a_clean_repository(tmp_path):
    repo, env = _repo(tmp_path)
    clean = run(["pre-commit", "run", "--all-files"], cwd=repo, env=env, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    passed = {
        line.split(".")[0] for line in clean.stdout.splitlines() if "Passed" in line
    }
    assert passed >= {
        "ruff lint",
        "ruff format (check only)",
        "hadolint (Dockerfile lint)",
    }


@pytest.mark.slow
def test_pre_commit_refuses_models_large_files_bad_code_and_dockerfiles(tmp_path):
    repo, env = _repo(tmp_path)
    (repo / "models").mkdir()
    (repo / "models" / "model.joblib").write_bytes(b"\x80\x04weights")
    (repo / "weights.bin").write_bytes(bytes(3 * 2**20))
    (repo / "app.py").write_text("import os\nprint(x)\n")
    (repo / "docker" / "serve.Dockerfile").write_text(
        "FROM python:latest\nCMD python app.py\n"
    )
    run(["git", "add", "."], cwd=repo)
    dirty = run(["pre-commit", "run", "--all-files"], cwd=repo, env=env, check=False)
    out = dirty.stdout
    assert dirty.returncode == 1
    assert "models/model.joblib" in out and "belong in DVC" in out
    assert "weights.bin (3072 KB) exceeds 2048 KB" in out
    assert "F401" in out and "F821" in out  # ruff: unused import, undefined name
    assert "DL3007" in out and "DL3025" in out  # hadolint: latest, shell-form CMD
    assert "docker/serve.Dockerfile:1: base-not-pinned" in out
