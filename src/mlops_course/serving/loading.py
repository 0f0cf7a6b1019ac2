"""Load the model to serve: a joblib or ONNX file, or a registry version.

A model brings its decision threshold: a registry version in its metadata
(chapter 7), a file in the JSON written beside it (chapter 5). A model without
one does not load unless ``MLOPS_THRESHOLD`` is set for it.

Loading a model runs code. ``joblib.load`` is ``pickle``: the file names the
functions to call while it is read, so a crafted file runs what its author
wants in the service's process. The course loads pickles here (a joblib file,
``MLOPS_MODEL_PATH``), in chapters 2, 4, 5, 7, 10 and 12 (``joblib.load`` of
the files they train), in the pipeline and the project template (``joblib``),
and through MLflow: ``mlflow.sklearn.load_model`` and ``mlflow.pyfunc.load_model``
(a registry model, ``MLOPS_MODEL_URI``; chapters 3, 4, 7, 8 and 10). MLflow's
scikit-learn flavour stores skops by default here, but the list of types skops
may build is read from the model's own ``MLmodel`` file, so a crafted model
can allow anything (MLflow's own loader says so); a pickle or cloudpickle
flavour runs code outright. Each is safe only from a trusted store: a folder
or a registry that only the training pipeline writes to. Chapter 4's skops
lesson is the counterpart for files one did not produce.

So the service loads only from where it was told to: a registry URI
(``models:/...`` or ``runs:/...``, resolved by the configured tracking
server) and, when ``model_root`` (``MLOPS_MODEL_ROOT``) is set, only files
inside that folder (after resolving symbolic links). Anything else is refused
with :class:`ModelLoadError` before a byte is read. Production sets the root
(for example the image's model folder); the chapters' services, which load
files the learner just trained in the workspace, may leave it unset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from mlops_course.data import (
    FEATURES,
)
from mlops_course.serving.engines import (
    Engine,
    ModelLoadError,
    OnnxEngine,
    make_engine,
    one_line_error,
)
from mlops_course.serving.schemas import MAX_BATCH_ROWS, Metadata
from mlops_course.serving.settings import Settings

logger = logging.getLogger("mlops_course.serving")


# --------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class LoadedModel:
    """A model ready to score, and what ``/metadata`` says about it."""

    engine: Engine
    name: str
    version: str
    source: str
    training_data_hash: str | None
    threshold: float
    threshold_source: str

    def metadata(self) -> Metadata:
        """The ``/metadata`` answer."""
        return Metadata(
            model_name=self.name,
            model_version=self.version,
            training_data_hash=self.training_data_hash,
            model_source=self.source,
            engine=self.engine.name,
            threshold=self.threshold,
            threshold_source=self.threshold_source,
            features=list(FEATURES),
            max_batch_rows=MAX_BATCH_ROWS,
        )


def file_digest(path: str | Path, length: int = 12) -> str:
    """The first ``length`` hex digits of a file's SHA-256."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:length]


#: A model file's metadata lives beside it: ``model.joblib.metadata.json``.
METADATA_SUFFIX = ".metadata.json"


def metadata_path(model_path: str | Path) -> Path:
    """Where the metadata of a model file lives: its name plus ``.metadata.json``."""
    path = Path(model_path)
    return path.with_name(path.name + METADATA_SUFFIX)


def save_model_metadata(model_path: str | Path, metadata: dict) -> Path:
    """Write ``metadata`` (``{"decision_threshold": t}``...) beside a model file.

    The same key as the registry's ``log_model(..., metadata=...)``: the
    threshold chosen on validation travels with the file it belongs to.
    """
    path = metadata_path(model_path)
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return path


def _valid_threshold(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    )


def file_threshold(path: str | Path, setting: float | None) -> tuple[float, str]:
    """A model file's own threshold (its metadata file), else ``setting``.

    Returns the threshold and where it came from; with neither, or with a
    metadata file that holds no valid threshold, raises :class:`ModelLoadError`
    saying what to write or set (never a silent 0.5). The course service and
    chapter 15's BentoML service both read a file model's threshold this way.
    """
    path = Path(path)
    beside = metadata_path(path)
    if beside.is_file():
        try:
            metadata = json.loads(beside.read_text())
        except ValueError as exc:
            raise ModelLoadError(f"{beside.name} is not JSON: {exc}") from exc
        threshold = (
            metadata.get("decision_threshold") if isinstance(metadata, dict) else None
        )
        if not _valid_threshold(threshold):
            raise ModelLoadError(
                f"{beside.name} has no decision_threshold between 0 and 1"
            )
        if setting is not None and setting != threshold:
            logger.warning(
                "MLOPS_THRESHOLD=%s ignored: %s sets %s",
                setting,
                beside.name,
                threshold,
            )
        return float(threshold), f"model metadata ({beside.name})"
    if setting is not None:
        return setting, "MLOPS_THRESHOLD setting"
    raise ModelLoadError(
        f"{path.name} carries no decision threshold: write it beside the model "
        f'({beside.name} with {{"decision_threshold": t}}, t chosen on validation) '
        "or set MLOPS_THRESHOLD"
    )


def _load_registry(settings: Settings) -> LoadedModel:
    """Resolve the alias once, load that version, take its threshold from metadata."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    from mlops_course.tracking import import_mlflow_http_plugins, import_skops

    import_skops()  # skops.io without torch and dask: ~190 MB less per service
    import_mlflow_http_plugins()  # and MLflow's HTTP plugins without torch
    if settings.tracking_uri:
        mlflow.set_tracking_uri(settings.tracking_uri)
    uri = settings.model_uri or ""
    client = MlflowClient()
    if uri.startswith("models:/"):
        name, at, ref = uri[len("models:/") :].partition("@")
        if at:
            found = client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = name.partition("/")
            found = client.get_model_version(name, number)
        name, version = found.name, str(found.version)
        uri = f"models:/{name}/{version}"  # load exactly the version we report
    else:  # runs:/ or a path: not a registry model
        found, name, version = None, settings.model_name, settings.model_version
    metadata = mlflow.models.get_model_info(uri).metadata or {}
    threshold = metadata.get("decision_threshold")
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ModelLoadError(
            f"{uri} has no decision_threshold between 0 and 1 in its metadata: "
            "log it with log_model(..., metadata={'decision_threshold': t})"
        )
    data_hash = None
    if found is not None:
        data_hash = (found.tags or {}).get("training_data_hash")
        if data_hash is None and found.run_id:
            run = client.get_run(found.run_id)
            data_hash = run.data.tags.get("training_data_hash") or run.data.params.get(
                "training_data_hash"
            )
    pipeline = mlflow.sklearn.load_model(uri)
    return LoadedModel(
        engine=make_engine(pipeline, settings.engine),
        name=name,
        version=str(version or "unknown"),
        source=uri,
        training_data_hash=settings.training_data_hash or data_hash,
        threshold=float(threshold),
        threshold_source="model metadata",
    )


#: Model URIs the configured tracking server resolves: its registry and its runs.
REGISTRY_SCHEMES = ("models:/", "runs:/")


def check_source(settings: Settings) -> None:
    """Refuse a model source outside the configured registry or model folder.

    A model URI must name the registry or a run (:data:`REGISTRY_SCHEMES`); a
    file must lie inside ``settings.model_root`` when one is set. Raises
    :class:`ModelLoadError` saying which setting to change; loads nothing.
    """
    uri = settings.model_uri
    if uri is not None and not uri.startswith(REGISTRY_SCHEMES):
        raise ModelLoadError(
            "MLOPS_MODEL_URI must name the configured registry (models:/<name>@"
            "<alias> or models:/<name>/<version>) or a run (runs:/<run_id>/<path>): "
            "loading a model runs code, so the service loads only from its own "
            "store; serve a file with MLOPS_MODEL_PATH inside MLOPS_MODEL_ROOT"
        )
    root, path = settings.model_root, settings.onnx_path or settings.model_path
    if uri is None and root is not None and path is not None:
        inside = path.resolve().is_relative_to(root.resolve())  # after links, ".."
        if not inside:
            raise ModelLoadError(
                f"model file {path.name} is outside the model folder "
                "MLOPS_MODEL_ROOT: loading a model runs code, so the service "
                "loads only files from that folder"
            )


def load_model(settings: Settings) -> LoadedModel:
    """Load the model the settings describe, or raise ModelLoadError saying why."""
    if not (settings.model_path or settings.model_uri or settings.onnx_path):
        raise ModelLoadError(
            "no model configured: set MLOPS_MODEL_PATH, MLOPS_MODEL_URI or "
            "MLOPS_ONNX_PATH"
        )
    check_source(settings)
    try:
        if settings.model_uri is not None:
            if "MLOPS_THRESHOLD" in settings.to_env():
                logger.warning("MLOPS_THRESHOLD ignored: the model's metadata sets it")
            return _load_registry(settings)
        path = settings.onnx_path or settings.model_path
        assert path is not None
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path.name}")
        threshold, threshold_source = file_threshold(path, settings.threshold)
        if settings.onnx_path is not None:
            engine: Engine = OnnxEngine(path.read_bytes())
        else:
            import joblib

            # joblib runs code while loading: check_source vetted the file above.
            engine = make_engine(joblib.load(path), settings.engine)
    except ModelLoadError:
        raise
    except Exception as exc:  # any loader failure becomes a short, client-safe reason
        raise ModelLoadError(one_line_error(exc)) from exc
    return LoadedModel(
        engine=engine,
        name=settings.model_name,
        version=settings.model_version or f"sha256:{file_digest(path)}",
        source=f"file:{path.name}",
        training_data_hash=settings.training_data_hash,
        threshold=threshold,
        threshold_source=threshold_source,
    )
