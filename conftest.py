"""Suite-wide set-up: deterministic environment and a private workspace root per worker."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

DETERMINISM = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "FEAST_USAGE": "False",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_TELEMETRY": "false",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, value in DETERMINISM.items():
        os.environ.setdefault(name, value)
    # Kernels started by papermill and nbval inherit this: each xdist worker gets
    # its own workspaces, so two runs of one notebook never share a folder.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    root = Path(tempfile.mkdtemp(prefix=f"mlops-course-ws-{worker}-"))
    os.environ["MLOPS_COURSE_WORKSPACE"] = str(root)
    config.stash[_ROOT_KEY] = root


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_ROOT_KEY, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.__class__.__name__ == "IPyNbCell":  # nbval's per-cell items
        item.add_marker(pytest.mark.notebook)


_ROOT_KEY = pytest.StashKey[Path]()
