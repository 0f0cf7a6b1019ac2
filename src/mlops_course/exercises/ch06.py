"""Checks for chapter 6's exercises (container images, models in git with DVC)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlops_course import dockerfiles, shell
from mlops_course.exercises import exercise, expect, expect_type


@exercise("ex-06-1")
def gpu_dockerfile(path) -> str:
    """A two-stage CUDA PyTorch image that reuses the base's torch, lint-clean."""
    expect_type(path, Path, "the path of your Dockerfile")
    expect(path.is_file(), f"there is no Dockerfile at {path}")
    text = path.read_text()
    lint = shell.run(
        ["hadolint", "--no-color", path.name], cwd=path.parent, check=False
    ).stdout.strip()
    expect(not lint, f"hadolint finds: {lint}")
    findings = dockerfiles.check_dockerfile(text)
    expect(
        not findings,
        "the course rules find: "
        + "; ".join(f"line {f.line} {f.rule}: {f.message}" for f in findings),
    )
    parsed = dockerfiles.parse_dockerfile(text)
    for stage in parsed.stages:
        expect(
            "pytorch" in stage.base and "cuda" in stage.base,
            f"the stage on line {stage.line} starts from {stage.base}, not a "
            "CUDA-enabled PyTorch image: the GPU build of torch comes from the base",
        )
    runs = [i.value for i in parsed.instructions if i.keyword == "RUN"]
    venvs = [r for r in runs if "venv" in r and "-m venv" in r]
    expect(venvs, "no RUN creates the virtual environment (python -m venv)")
    expect(
        all("--system-site-packages" in r for r in venvs),
        "the venv does not see the image's PyTorch: create it with "
        "--system-site-packages, or pip would install a second torch without CUDA",
    )
    installs = [r for r in runs if re.search(r"pip install (?!--no-deps)", r)]
    expect(
        installs
        and all(re.search(r"(-c|--constraint)\s+\S*lock", r) for r in installs),
        "install the training packages with the course lock as constraints "
        "(pip install -c requirements.lock ...): the versions the course tested",
    )
    return (
        "two CUDA PyTorch stages, a venv that reuses the base's torch, the lock as "
        "constraints, a non-root user: hadolint and the course rules find nothing"
    )


BRANCH = "exp/model-v4"
POINTER = "models/model.bin.dvc"


def _pointer_md5(repo: Path, rev: str) -> str:
    text = shell.sh(f"git show {rev}:{POINTER}", cwd=repo)
    return str(yaml.safe_load(text)["outs"][0]["md5"])


@exercise("ex-06-2")
def model_branch(review, *, repo) -> str:
    """Model v4 on a branch: git holds a new pointer, DVC's cache the bytes."""
    expect_type(review, str, "the text of git diff main..exp/model-v4")
    repo = Path(repo)
    branches = shell.sh("git branch --format=%(refname:short)", cwd=repo).split()
    expect(BRANCH in branches, f"the repository has no branch {BRANCH}: {branches}")
    changed = shell.sh(f"git diff --name-only main..{BRANCH}", cwd=repo).split()
    tracked = shell.sh(f"git ls-tree -r --name-only {BRANCH}", cwd=repo).split()
    expect(
        "models/model.bin" not in tracked,
        f"{BRANCH} commits models/model.bin itself: git now stores the model's "
        "bytes for ever; dvc add it and commit only its pointer",
    )
    expect(
        changed == [POINTER],
        f"the branch changes {changed or 'nothing'}: it should change one file, "
        f"the pointer {POINTER}",
    )
    new = _pointer_md5(repo, BRANCH)
    cached = repo / ".dvc" / "cache" / "files" / "md5" / new[:2] / new[2:]
    expect(
        cached.is_file(),
        f"the pointer names md5 {new}, which is not in DVC's cache: run dvc add "
        "on the new model before committing the pointer",
    )
    expect(
        new in review and _pointer_md5(repo, "main") in review,
        "your review text does not show the old and the new md5 of the pointer: "
        f"print git diff main..{BRANCH}",
    )
    return (
        "the reviewer sees one changed line, the model's content hash; the bytes "
        "went to DVC's cache, not to git"
    )
