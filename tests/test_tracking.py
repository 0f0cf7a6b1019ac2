"""mlops_course.tracking: a real MLflow server over HTTP, fingerprints, run tables."""

from __future__ import annotations

import json
import os
import re
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_course.data import generate_applications, time_split
from mlops_course.modeling import features_and_target, make_model
from mlops_course.servers import port_is_open
from mlops_course.tracking import (
    MODEL_PACKAGES,
    SKOPS_TRUSTED_TYPES,
    data_fingerprint,
    mlflow_server,
    mlflow_server_args,
    parse_param,
    pinned_requirements,
    runs_table,
    split_summary,
)


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone for every practical purpose.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] == "Z"


def _process_group(pgid: int) -> list[str]:
    """Command lines of the live processes in process group ``pgid``."""
    found = []
    for stat in os.listdir("/proc"):
        if not stat.isdigit():
            continue
        try:
            proc = Path("/proc", stat)
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                found.append((proc / "cmdline").read_text().replace("\0", " "))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return found


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """Start a server, log runs through it over HTTP, stop it; return what was seen."""
    import mlflow  # pinned in the lock: a broken install fails, never skips
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    previous_uri = mlflow.get_tracking_uri()
    seen = {}
    try:
        with mlflow_server(folder) as server:
            seen["server"] = server
            seen["open_inside"] = port_is_open(server.port)
            seen["group"] = _process_group(server.pid)
            mlflow.set_tracking_uri(server.url)
            experiment_id = mlflow.create_experiment("tests")
            for c in (0.1, 1.0):
                with mlflow.start_run(
                    experiment_id=experiment_id, run_name=f"C={c}"
                ) as run:
                    mlflow.log_params({"model.C": c, "model.class_weight": None})
                    mlflow.log_metric("valid_roc_auc", 0.7 + c / 100)
                    mlflow.log_dict({"rows": 3}, "summary.json")
            client = MlflowClient(server.url)
            seen["run"] = client.get_run(run.info.run_id)
            seen["artifacts"] = [a.path for a in client.list_artifacts(run.info.run_id)]
            local = client.download_artifacts(
                run.info.run_id, "summary.json", str(folder)
            )
            seen["summary"] = json.loads(Path(local).read_text())
            seen["runs"] = mlflow.search_runs(experiment_ids=[experiment_id])
            seen["experiment"] = client.get_experiment(experiment_id)
    finally:
        mlflow.set_tracking_uri(previous_uri)
    seen["folder"] = folder
    return seen


@pytest.mark.slow
def test_server_logs_and_reads_back_a_run_over_http(tracked):
    assert tracked["open_inside"]
    assert tracked["server"].url.startswith("http://127.0.0.1:")
    run = tracked["run"]
    assert run.data.params == {"model.C": "1.0", "model.class_weight": "None"}
    assert run.data.metrics == {"valid_roc_auc": pytest.approx(0.71)}
    assert tracked["artifacts"] == ["summary.json"]
    assert tracked["summary"] == {"rows": 3}


def test_server_args_are_the_command_the_chapter_explains(tmp_path):
    argv = mlflow_server_args(tmp_path)
    assert os.path.basename(argv[0]) == "mlflow" and argv[1] == "server"
    flags = {a: b for a, b in zip(argv[2:], argv[3:], strict=False) if a[:2] == "--"}
    assert flags["--backend-store-uri"] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert flags["--artifacts-destination"] == str(tmp_path / "artifacts")
    assert "--serve-artifacts" in argv
    assert (flags["--host"], flags["--port"]) == ("{host}", "{port}")


@pytest.mark.slow
def test_server_runs_without_the_job_runner(tracked):
    # The `mlflow server` CLI and one uvicorn worker; no huey job consumers.
    group = tracked["group"]
    assert any("uvicorn" in cmd for cmd in group)
    assert not any("huey" in cmd or "_job_runner" in cmd for cmd in group)
    assert len(group) == 2


@pytest.mark.slow
def test_server_stores_runs_in_sqlite_and_artifacts_in_the_folder(tracked):
    folder = tracked["folder"]
    assert (folder / "mlflow.db").stat().st_size > 0
    # Artifacts are proxied by the server (clients never write the folder directly).
    assert tracked["experiment"].artifact_location.startswith("mlflow-artifacts:")
    uploaded = list((folder / "artifacts").rglob("summary.json"))
    assert len(uploaded) == 2
    assert "Uvicorn running" in (folder / "server.log").read_text()


@pytest.mark.slow
def test_server_is_stopped_after_the_with_block(tracked):
    server = tracked["server"]
    assert not port_is_open(server.port)
    assert _process_gone(server.pid)


@pytest.mark.slow
def test_server_is_stopped_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), mlflow_server(tmp_path) as server:
        raise RuntimeError("boom")
    assert not port_is_open(server.port)
    assert _process_gone(server.pid)


@pytest.mark.slow
def test_runs_table_is_tidy_sorted_and_rounded(tracked):
    table = runs_table(
        tracked["runs"],
        params=["model.C", "model.class_weight"],
        metrics=["valid_roc_auc"],
        sort_by="valid_roc_auc",
        ascending=False,
    )
    assert list(table.columns) == [
        "run_name",
        "model.C",
        "model.class_weight",
        "valid_roc_auc",
    ]
    assert table["run_name"].tolist() == ["C=1.0", "C=0.1"]
    assert table["model.C"].tolist() == [1.0, 0.1]  # numbers, not strings
    assert table["model.class_weight"].tolist() == ["None", "None"]
    assert table["valid_roc_auc"].tolist() == [0.71, 0.701]


def test_runs_table_names_missing_columns():
    runs = pd.DataFrame({"tags.mlflow.runName": ["a"], "metrics.auc": [0.5]})
    with pytest.raises(KeyError, match="params.C"):
        runs_table(runs, params=["C"], metrics=["auc"])


def test_runs_table_breaks_ties_by_run_name():
    runs = pd.DataFrame(
        {"tags.mlflow.runName": ["b", "a", "c"], "metrics.auc": [0.8, 0.8, 0.9]}
    )
    table = runs_table(runs, metrics=["auc"], sort_by="auc", ascending=False)
    assert table["run_name"].tolist() == ["c", "a", "b"]


def test_fingerprint_is_stable_and_sensitive():
    frame = generate_applications(300, seed=3)
    same = generate_applications(300, seed=3)
    fingerprint = data_fingerprint(frame)
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert data_fingerprint(same) == fingerprint
    assert data_fingerprint(generate_applications(300, seed=4)) != fingerprint

    changed = frame.copy()
    changed.loc[changed.index[-1], "annual_income"] += 1
    assert data_fingerprint(changed) != fingerprint
    assert data_fingerprint(frame.iloc[::-1]) != fingerprint  # row order counts
    assert (
        data_fingerprint(frame.astype({"age": "float64"})) != fingerprint
    )  # dtype counts
    assert data_fingerprint(frame.rename(columns={"age": "age_years"})) != fingerprint
    assert data_fingerprint(frame.reset_index(drop=True)) == fingerprint
    assert data_fingerprint(
        frame.set_axis(frame.index + 1), index=True
    ) != data_fingerprint(frame, index=True)


def test_fingerprint_sees_a_change_in_the_last_bits_of_a_float():
    frame = pd.DataFrame({"x": [0.1, 0.2, 0.3]})
    nudged = frame.copy()
    nudged.loc[1, "x"] = np.nextafter(0.2, 1.0)  # the next double after 0.2
    assert nudged.loc[1, "x"] != 0.2
    assert data_fingerprint(nudged) != data_fingerprint(frame)


def test_fingerprint_sees_rows_that_mlflow_digest_misses():
    import mlflow

    frame = pd.DataFrame({"x": [float(i) for i in range(12_000)]})
    changed = frame.copy()
    changed.loc[11_000, "x"] = -1.0
    # MLflow's digest samples the first 10,000 rows: the change is invisible to it.
    assert (
        mlflow.data.from_pandas(frame).digest == mlflow.data.from_pandas(changed).digest
    )
    assert data_fingerprint(frame) != data_fingerprint(changed)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.1", 0.1),
        ("1000", 1000),
        ("None", None),
        ("True", True),
        ("balanced", "balanced"),
        ("{0: 1, 1: 5}", {0: 1, 1: 5}),
        ("lbfgs", "lbfgs"),
    ],
)
def test_parse_param_reads_logged_values_back(text, value):
    assert parse_param(text) == value
    assert parse_param(str(value)) == value


def test_split_summary_describes_each_part():
    split = time_split(generate_applications(1_000, seed=1))
    summary = split_summary(split)
    assert list(summary) == ["train", "valid", "test"]
    assert sum(part["rows"] for part in summary.values()) == 1_000
    assert summary["train"]["to"] < summary["valid"]["from"] <= summary["valid"]["to"]
    assert 0 < summary["test"]["default_rate"] < 1
    json.dumps(summary)  # JSON-ready, for mlflow.log_dict


def test_pinned_requirements_name_the_installed_versions():
    import numpy
    import sklearn

    assert pinned_requirements(["scikit-learn", "numpy"]) == [
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={numpy.__version__}",
    ]
    assert len(pinned_requirements()) == len(MODEL_PACKAGES)
    with pytest.raises(PackageNotFoundError):
        pinned_requirements(["no-such-distribution-here"])


@pytest.mark.parametrize("kind", ["logreg", "hgb"])
def test_skops_trusted_types_are_enough_to_load_the_course_pipelines(kind, tmp_path):
    import skops.io as sio  # pinned in the lock: a broken install fails
    from skops.io.exceptions import UntrustedTypesFoundException

    split = time_split(generate_applications(600, seed=2))
    X, y = features_and_target(split.train)
    model = make_model(kind, seed=2).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted, "skops trusts everything: the list would be pointless"
    with pytest.raises(UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=SKOPS_TRUSTED_TYPES)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_quiet_mlflow_hides_volatile_chatter(monkeypatch):
    import logging

    from mlops_course.tracking import QUIET_ENV, quiet_mlflow

    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    logger = logging.getLogger("mlflow")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    quiet_mlflow()
    assert all(os.environ[k] == v for k, v in QUIET_ENV.items())
    assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(
        logging.WARNING
    )


def test_import_skops_leaves_torch_out_and_trusts_the_same_types():
    """skops.io imported through import_skops: no torch, same trusted estimators."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from mlops_course.tracking import import_skops\n"
        "import_skops()\n"
        "import skops.io._trusted_types as t\n"
        "print(len(t.SKLEARN_ESTIMATOR_TYPE_NAMES), 'torch' in sys.modules)\n"
        "import torch, sklearn.externals.array_api_compat.torch\n"
        "print('torch imports afterwards')\n"
    )
    plain = (
        "import skops.io._trusted_types as t\n"
        "print(len(t.SKLEARN_ESTIMATOR_TYPE_NAMES))\n"
    )
    lean = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    full = subprocess.run(
        [sys.executable, "-c", plain], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert lean[0] == f"{full} False"
    assert lean[1] == "torch imports afterwards"


def test_mlflow_http_plugins_load_without_torch_and_torch_still_imports():
    """Feast's MLflow header provider registers; torch stays out until asked for."""
    import subprocess
    import sys

    probe = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"  # a plugin that failed to load would warn
        "from mlops_course.tracking import import_mlflow_http_plugins\n"
        "import_mlflow_http_plugins()\n"
        "from mlflow.tracking.request_header.registry import (\n"
        "    _request_header_provider_registry as providers)\n"
        "names = [type(p).__name__ for p in providers]\n"
        "print('FeastMLflowHeaderProvider' in names, 'torch' in sys.modules)\n"
        "import torch\n"
        "print('torch imports afterwards')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "True False"
    assert out[1] == "torch imports afterwards"
