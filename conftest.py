"""Suite-wide set-up: deterministic environment, workspaces, the notebook harness.

Every notebook nbval collects runs exactly twice, in a row, on one xdist worker
and in one workspace root (``MLOPS_COURSE_WORKSPACE``, one per worker):

1. ``<notebook>::papermill``: papermill with CI's small parameters
   (``tests/ci_parameters.yml``); its outputs must hold no error, warning or
   machine path;
2. ``<notebook>::Cell N``: nbval re-runs the committed notebook with its
   default parameters and compares every output with the stored one.

The papermill item is added as the first child of nbval's file collector, so
its node id starts with the notebook's path: ``--dist loadfile`` therefore
sends it to the same worker as the notebook's cells, before them. A notebook
that trips over what its previous run left behind fails its nbval run
(``tests/test_harness.py`` proves it).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

DETERMINISM_FILE = Path(__file__).resolve().parent / "tools" / "determinism.env"


def determinism_env() -> dict[str, str]:
    """The ``export NAME=value`` lines of tools/determinism.env (the Makefile's too)."""
    lines = DETERMINISM_FILE.read_text().splitlines()
    found = (re.fullmatch(r"export (\w+)=(\S*)", line.strip()) for line in lines)
    return {m[1]: m[2] for m in found if m}


#: The temp folder the suite started with (TMPDIR is then moved into each root).
_SYSTEM_TMP = "MLOPS_COURSE_SYSTEM_TMPDIR"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "notebook: executes a course notebook (slow)")
    config.addinivalue_line("markers", "book: builds the Jupyter Book (slow)")
    config.addinivalue_line(
        "markers",
        "slow: starts a kernel, a server or an external tool (dvc, uv, mlflow); "
        "`make test` runs it, `make test-fast` skips it",
    )
    for name, value in determinism_env().items():
        os.environ.setdefault(name, value)
    _nbval_cell_timeout(config)
    # Kernels started by papermill and nbval inherit this root. Each worker has
    # its own, so notebooks on different workers never meet; a notebook's two
    # runs happen on one worker, so the second sees what the first left.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    # Every root sits in the system's temp folder, not in the TMPDIR the main
    # process set below for its children (xdist workers among them): nested
    # roots made paths too long for a Unix socket (Chromium's SingletonSocket).
    system_tmp = os.environ.setdefault(_SYSTEM_TMP, tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix=f"mlops-course-ws-{worker}-", dir=system_tmp))
    os.environ["MLOPS_COURSE_WORKSPACE"] = str(root)
    config.stash[_ROOT_KEY] = root
    # The system temp folder of every process the run starts is inside the root,
    # removed with it. nbval stops each kernel with SIGKILL, so what a tool
    # removes only at a normal exit stays behind otherwise: importing Feast
    # (directly, or through MLflow's HTTP client, which loads it as a plugin)
    # makes a feast_metrics_* folder that Feast deletes in an atexit handler.
    (root / "tmp").mkdir()
    os.environ["TMPDIR"] = str(root / "tmp")


def _nbval_cell_timeout(config: pytest.Config) -> None:
    """nbval's per-cell timeout is the course's (unless given on the command line)."""
    from tools.nbchecks import CELL_TIMEOUT_S

    given = [
        *config.invocation_params.args,
        *os.environ.get("PYTEST_ADDOPTS", "").split(),
    ]
    if hasattr(config.option, "nbval_cell_timeout") and not any(
        arg.startswith("--nbval-cell-timeout") for arg in given
    ):
        config.option.nbval_cell_timeout = CELL_TIMEOUT_S


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_ROOT_KEY, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def pytest_itemcollected(item: pytest.Item) -> None:
    if _is_nbval_cell(item):
        item.add_marker(pytest.mark.notebook)


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect, so both see the new items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    ordered: list[pytest.Item] = []
    notebooks: set[str] = set()
    for item in items:
        if _is_nbval_cell(item) and item.parent.nodeid not in notebooks:
            notebooks.add(item.parent.nodeid)
            run = PapermillRun.from_parent(item.parent, name="papermill")
            run.add_marker(pytest.mark.notebook)
            ordered.append(run)
        ordered.append(item)
    items[:] = ordered


class NotebookProblem(Exception):
    """The papermill run failed or left errors, warnings or paths in its outputs."""


class PapermillRun(pytest.Item):
    """Run one notebook top to bottom with CI's parameters (the first of two runs)."""

    def runtest(self) -> None:
        import papermill as pm

        from tools.nbchecks import (
            CELL_TIMEOUT_S,
            KERNELSPEC,
            ci_parameters,
            output_problems,
            read,
        )

        notebook = self.path
        with tempfile.TemporaryDirectory(prefix="papermill-") as tmp:
            executed = Path(tmp) / notebook.name
            try:
                pm.execute_notebook(
                    str(notebook),
                    str(executed),
                    parameters=ci_parameters(notebook.stem),
                    cwd=str(notebook.parent),
                    kernel_name=KERNELSPEC["name"],
                    progress_bar=False,
                    execution_timeout=CELL_TIMEOUT_S,
                )
            except pm.PapermillExecutionError as error:
                raise NotebookProblem(f"papermill run failed:\n{error}") from None
            problems = output_problems(read(executed))
        if problems:
            raise NotebookProblem("papermill run outputs:\n" + "\n".join(problems))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, NotebookProblem):
            return f"{self.path.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}: papermill with CI parameters"


def _is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


_ROOT_KEY = pytest.StashKey[Path]()


@pytest.fixture(autouse=True)
def _environment_restored_after_each_test():
    """Each test starts from the same environment variables.

    Libraries set variables as a side effect: MLflow 3's ``set_experiment`` sets
    ``MLFLOW_EXPERIMENT_ID``, which a later test's subprocess would inherit and
    point at an experiment its own tracking store does not have.
    """
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
