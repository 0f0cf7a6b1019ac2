"""Per-notebook scratch workspaces (every chapter).

Each notebook keeps what it builds (MLflow stores, DVC repos, Feast repos,
models) in its own folder, wiped at the start of a run so a second run starts
from the same state as the first. The folder is ``.workspace/<name>`` at the
root of the course checkout (ignored by git, easy to open from JupyterLab),
unless ``MLOPS_COURSE_WORKSPACE`` names another root (the test suite gives each
worker its own, shared by the two runs of a notebook). Outside a checkout it
falls back to the temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

ENV_VAR = "MLOPS_COURSE_WORKSPACE"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def course_root(start: Path | None = None) -> Path | None:
    """The course checkout holding ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return None


def workspace_root() -> Path:
    """Where workspaces live: ``$MLOPS_COURSE_WORKSPACE``, the checkout or tmp."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).resolve()
    root = course_root()
    if root is not None:
        return root / ".workspace"
    return Path(tempfile.gettempdir()) / "mlops-course-workspace"


def workspace(name: str, *, fresh: bool = True) -> Path:
    """Return the scratch folder ``name``, emptied first when ``fresh`` (default)."""
    if not _NAME.match(name):
        raise ValueError(
            f"workspace name must be a simple slug like '02_dvc', got {name!r}"
        )
    path = workspace_root() / name
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
