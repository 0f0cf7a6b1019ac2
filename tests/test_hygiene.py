"""Repository hygiene checks and the course's offline pre-commit configuration (chapter 6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import yaml

from mlops_course.hygiene import blocked_files, main, notebook_problems
from mlops_course.shell import run
from mlops_course.workspace import course_root

ROOT = course_root()


def test_model_and_data_files_are_blocked_whatever_their_size(tmp_path):
    names = [
        "model.pkl",
        "m.JOBLIB",
        "net.onnx",
        "registry.db",
        "x.parquet",
        "w.safetensors",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "train.py").write_text("print('ok')\n")
    problems = blocked_files(sorted(tmp_path.iterdir()))
    assert len(problems) == len(names)
    assert all("dvc add" in p for p in problems)


def test_large_files_are_blocked_small_ones_pass(tmp_path):
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    big.write_bytes(b"0" * (3 * 1024 + 1) * 1024)
    small.write_bytes(b"0" * 1024)
    assert blocked_files([small]) == []
    (problem,) = blocked_files([big, small])
    assert "3073 KB is over the 2048 KB limit" in problem
    assert blocked_files([big], max_kb=4096) == []


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
    (tmp_path / "m.pkl").write_bytes(b"x")
    assert main(["large-files", str(tmp_path / "m.pkl")]) == 1
    assert "m.pkl" in capsys.readouterr().out
    good = _notebook(tmp_path / "good.ipynb", [])
    assert main(["notebooks", str(good)]) == 0


def test_the_course_notebooks_pass_the_hook():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert [p for nb in notebooks for p in notebook_problems(nb)] == []


def test_pre_commit_config_is_local_and_offline():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert [r["repo"] for r in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {h["language"] for h in hooks} == {"system"}
    assert all(h["entry"].startswith("python -m mlops_course.") for h in hooks)
    assert not any(h.get("additional_dependencies") for h in hooks)


def test_pre_commit_runs_the_hooks_offline_and_blocks_a_model(tmp_path):
    repo = tmp_path / "repo"
    run(["git", "init", "-q", "-b", "main", str(repo)])
    run(["git", "config", "user.name", "Test"], cwd=repo)
    run(["git", "config", "user.email", "test@example.com"], cwd=repo)
    for name in [".pre-commit-config.yaml", ".dockerignore"]:
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "docker", repo / "docker")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    run(["git", "add", "."], cwd=repo)
    clean = run(["pre-commit", "run", "--all-files"], cwd=repo, env=env, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.count("Passed") == 2  # no notebook: that hook is skipped

    (repo / "models").mkdir()
    (repo / "models" / "model.joblib").write_bytes(b"\x80\x04weights")
    (repo / "docker" / "serve.Dockerfile").write_text(
        "FROM python:latest\nCMD python app.py\n"
    )
    run(["git", "add", "."], cwd=repo)
    dirty = run(["pre-commit", "run", "--all-files"], cwd=repo, env=env, check=False)
    assert dirty.returncode == 1
    assert "models/model.joblib: .joblib files are models or data" in dirty.stdout
    assert "docker/serve.Dockerfile:1: base-not-pinned" in dirty.stdout
