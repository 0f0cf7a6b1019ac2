"""Experiment tracking helpers: a local MLflow server, data fingerprints, run tables.

Used by chapter 3 (experiment tracking) and by the chapters that need a tracking
server or an audit trail afterwards: the model registry, serving from the
registry, governance and the capstones.

- :func:`mlflow_server` runs a real ``mlflow server`` process (SQLite backend
  store, artifacts proxied by the server into a local folder) on 127.0.0.1 for
  the duration of a ``with`` block, through :func:`mlops_course.servers.serve`.
- :func:`data_fingerprint` is an audit-grade SHA-256 of a whole DataFrame
  (MLflow's own dataset digest is 8 hex characters over the first 10,000 rows).
- :func:`runs_table` turns ``mlflow.search_runs`` output into a small, rounded,
  stable table; :func:`parse_param` reads a logged parameter back as a value;
  :func:`split_summary` describes a train/valid/test split.
- :func:`quiet_mlflow` switches off what makes stored notebook outputs volatile
  (run links with ids and ports, progress bars, timestamped INFO lines).
- :data:`SKOPS_TRUSTED_TYPES` and :func:`pinned_requirements` are what
  ``mlflow.sklearn.log_model`` needs to log the course's pipelines safely and
  without guessing requirements.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from mlops_course.data import TARGET, TIMESTAMP_COLUMN, Split
from mlops_course.servers import Server, serve
from mlops_course.shell import executable

#: Environment of the server process: no telemetry, and no background job runner
#: (MLflow 3's job runner starts a handful of extra processes that only GenAI
#: features use; a laptop course does not need them).
SERVER_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


#: MLflow's terminal niceties that make a stored notebook output change on every run.
QUIET_ENV = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # "View run ... at http://...:port"
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_ENABLE_TELEMETRY": "false",
}


def quiet_mlflow() -> None:
    """No run links, progress bars or INFO lines from MLflow here; warnings stay."""
    import logging

    os.environ.update(QUIET_ENV)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # A lighter kernel: skops.io without torch and dask, which it would
    # otherwise import for nothing (see import_skops). MLflow's HTTP plugins are
    # left to load when first needed: importing them imports Feast, which turns
    # DeprecationWarnings on ("once") for the whole process.
    import_skops()


def mlflow_server_args(folder: Path) -> list[str]:
    """The ``mlflow server`` argv for ``folder``; ``{host}`` and ``{port}`` to fill."""
    return [
        executable("mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "{host}",
        "--port",
        "{port}",
        "--workers",
        "1",
    ]


@contextlib.contextmanager
def mlflow_server(
    folder: str | os.PathLike,
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Run an MLflow tracking server storing into ``folder``; yield it (``.url``).

    Runs and registered models go to ``folder/mlflow.db`` (SQLite), artifacts to
    ``folder/artifacts`` (uploaded over HTTP through the server), the server's
    log to ``folder/server.log``. The process group is stopped when the block ends.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with serve(
        mlflow_server_args(folder),
        health="/health",
        timeout=timeout,
        env={**SERVER_ENV, **(env or {})},
        cwd=folder,
        log_path=folder / "server.log",
    ) as server:
        yield server


def data_fingerprint(frame: pd.DataFrame, *, index: bool = False) -> str:
    """SHA-256 (64 hex characters) of every column name, dtype and value of ``frame``.

    The frame is written as CSV (floats at full round-trip precision) after a
    header line listing the columns and their dtypes, so any changed value, row,
    column, order or type changes the fingerprint. The index counts only when
    ``index`` is true.
    """
    header = json.dumps(
        [[str(name), str(dtype)] for name, dtype in frame.dtypes.items()],
        separators=(",", ":"),
    )
    digest = hashlib.sha256(header.encode() + b"\n")
    body = frame.to_csv(
        index=index, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S.%f%z"
    )
    digest.update(body.encode())
    return digest.hexdigest()


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(column)
    except (TypeError, ValueError):
        return column


def parse_param(text: str) -> object:
    """A logged parameter back as a Python value: ``"0.1"`` -> 0.1, ``"None"`` -> None.

    MLflow stores every parameter as a string (``str(value)``); literals are
    read back with :func:`ast.literal_eval`, anything else stays a string.
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def runs_table(
    runs: pd.DataFrame,
    *,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
    tags: Sequence[str] = (),
    sort_by: str | Sequence[str] | None = None,
    ascending: bool = True,
    digits: int = 4,
) -> pd.DataFrame:
    """A tidy view of ``mlflow.search_runs`` output: run name, chosen columns, rounded.

    Columns lose their ``params.``/``metrics.``/``tags.`` prefixes, numeric
    parameters become numbers, metrics are rounded to ``digits``; run ids,
    times and artifact URIs are left out so the table is the same on every run.
    """
    wanted = {"tags.mlflow.runName": "run_name"}
    for prefix, names in (("params", params), ("metrics", metrics), ("tags", tags)):
        wanted.update({f"{prefix}.{name}": name for name in names})
    missing = [column for column in wanted if column not in runs.columns]
    if missing:
        raise KeyError(f"search_runs output has no column(s) {missing}")
    table = runs[list(wanted)].rename(columns=wanted)
    for name in params:
        table[name] = _numeric_if_possible(table[name])
    for name in metrics:
        table[name] = table[name].astype(float).round(digits)
    if sort_by is not None:
        keys = [sort_by] if isinstance(sort_by, str) else list(sort_by)
        # run_name breaks ties, so the order never depends on start times.
        table = table.sort_values(
            [*keys, "run_name"],
            ascending=[ascending] * len(keys) + [True],
            kind="stable",
        )
    return table.reset_index(drop=True)


def split_summary(split: Split) -> dict[str, dict[str, object]]:
    """Rows, default rate and time range of each part of a train/valid/test split."""
    summary: dict[str, dict[str, object]] = {}
    for part, frame in zip(split._fields, split, strict=True):
        times = frame[TIMESTAMP_COLUMN]
        summary[part] = {
            "rows": int(len(frame)),
            "default_rate": round(float(frame[TARGET].mean()), 4),
            "from": times.min().isoformat(),
            "to": times.max().isoformat(),
        }
    return summary


#: Types in the course's scikit-learn pipelines that skops does not trust by default.
#: Both only hold data (a NumPy dtype; the fitted trees of HistGradientBoosting), so
#: ``mlflow.sklearn.log_model(..., skops_trusted_types=SKOPS_TRUSTED_TYPES)`` is safe.
SKOPS_TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


class _RefuseImport:
    """A meta-path finder that makes ``import torch`` (or ``packages``) fail."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.packages:
            raise ImportError(f"{name} is not needed here (mlops_course.tracking)")
        return None


@contextlib.contextmanager
def _without(packages: tuple[str, ...]) -> Iterator[None]:
    """Inside the block, importing ``packages`` fails; afterwards it works again."""
    import sys

    blocked_before = {name for name, module in sys.modules.items() if module is None}
    finder = _RefuseImport(packages)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        # Failed optional imports may leave None entries that would block them later.
        for name, module in list(sys.modules.items()):
            if module is None and name not in blocked_before:
                del sys.modules[name]


def import_skops() -> None:
    """Import ``skops.io`` without the ~280 MB of torch and dask it would load.

    ``skops.io`` lists scikit-learn's estimators when it is imported
    (``sklearn.utils.all_estimators``), which imports every scikit-learn
    subpackage, among them the array-API shims for torch and dask: where torch
    is installed (chapters 1b, 14) every process that saves or loads a skops
    model (MLflow 3's default for scikit-learn) carries torch for nothing. While
    ``skops.io`` is imported here, torch and dask fail to import, so the shims are
    skipped; the trusted types are the same (scikit-learn's estimators), and
    torch imports normally afterwards. A no-op once skops.io or torch is loaded.
    """
    import sys

    if "skops.io" in sys.modules or any(m in sys.modules for m in ("torch", "dask")):
        return
    with _without(("torch", "dask")):
        import skops.io  # noqa: F401


def import_mlflow_http_plugins() -> None:
    """Load MLflow's HTTP request-header plugins without torch (~180 MB less).

    MLflow's REST client loads every ``mlflow.request_header_provider`` entry
    point of the environment. Feast registers one, and importing it imports
    Feast, which imports torch when it can (an optional integration): every
    process talking to an ``mlflow server`` (a kernel, the course service)
    would carry torch for nothing. Here torch fails to import while the plugins
    load; Feast's provider loads all the same, and torch imports normally
    afterwards. A no-op once the plugins or torch are loaded.
    """
    import sys

    registry = "mlflow.tracking.request_header.registry"
    if registry in sys.modules or "torch" in sys.modules:
        return
    with _without(("torch",)):
        import mlflow.tracking.request_header.registry  # noqa: F401


#: Distributions a logged scikit-learn pipeline of the course needs at load time.
MODEL_PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "skops")


def pinned_requirements(packages: Sequence[str] = MODEL_PACKAGES) -> list[str]:
    """``name==version`` of installed ``packages``, for ``pip_requirements=``.

    Giving MLflow the requirements skips its inference step, which imports the
    model in a subprocess and may try the network.
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in packages]
