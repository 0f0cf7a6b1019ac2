"""The course's model service: the credit-default model behind a FastAPI app.

A subpackage, one concern a module: ``schemas`` (the contract), ``settings``,
``engines`` (ONNX Runtime, scikit-learn), ``loading`` (files and the registry),
``arrow`` (Arrow batches) and ``app`` (routes and errors); ``reload`` adds the
opt-in ``POST /admin/reload`` of chapter 8; ``tenancy`` (chapter 16, imported
as ``mlops_course.serving.tenancy``) serves many teams' models from one
process. Import from ``mlops_course.serving``, which re-exports what chapters
and tests use.

Chapter 5 builds and tests it; chapters 6 (containers) and 7 (capstone) start
it the same way::

    MLOPS_MODEL_PATH=model.joblib python -m uvicorn \\
        mlops_course.serving:app_from_env --factory --host 127.0.0.1 --port 8000

It is a textbook FastAPI app with a few production habits:

- :func:`create_app` is an app factory; the model loads in the ``lifespan``
  handler. A model that cannot load leaves ``/health`` at 200 and makes
  ``/ready`` and the prediction routes answer 503 with the reason.
- Bodies are pydantic models in strict mode (``false`` is not a number), with
  ranges, ``Literal`` categories, ``extra="forbid"`` and no NaN/Infinity;
  responses declare ``response_model``; the OpenAPI document is generated.
  Every malformed request gets a 4xx that names the problem: 400 (not UTF-8,
  nested too deep), 413 (too big), 415 (not JSON), 422 (fails the contract).
- Scoring runs in ONNX Runtime: the scikit-learn pipeline is converted with
  skl2onnx at load time and checked against ``predict_proba`` on a sample
  (a plain ``MLOPS_ONNX_PATH`` file is served as it is); a pipeline that does
  not convert, or disagrees, is refused. ``engine="sklearn"`` calls the
  pipeline itself; ``engine="auto"`` opts into falling back to it.
- The decision threshold travels with the model: a registry model is resolved
  once (alias to version), loaded by version, and brings the
  ``decision_threshold`` of its metadata; a file brings the one in
  ``<file>.metadata.json`` beside it (:func:`save_model_metadata`).
  ``MLOPS_THRESHOLD`` serves a file that has none; with neither, the model does
  not load. ``/predict/batch/arrow`` takes an Arrow IPC stream checked by pyarrow.
"""

from __future__ import annotations

from mlops_course.serving.app import (
    MAX_ERRORS_SHOWN,
    FastJSONRequest,
    FastJSONRoute,
    Model,
    app_from_env,
    body_error,
    content_type,
    create_app,
    invalid_body,
    loaded_model,
    uvicorn_command,
)
from mlops_course.serving.arrow import columns_from_arrow, to_arrow_stream
from mlops_course.serving.engines import (
    Engine,
    ModelLoadError,
    OnnxEngine,
    SklearnEngine,
    frame_of,
    make_engine,
    parity_sample,
)
from mlops_course.serving.loading import (
    METADATA_SUFFIX,
    LoadedModel,
    file_digest,
    load_model,
    metadata_path,
    save_model_metadata,
)
from mlops_course.serving.reload import RELOAD_PATH, Reloaded, install_reload
from mlops_course.serving.schemas import (
    ARROW_STREAM,
    ENV_PREFIX,
    ERRORS,
    JSON,
    MAX_BATCH_ROWS,
    MAX_BODY_BYTES,
    PARITY_TOLERANCE,
    Application,
    BatchPrediction,
    BatchRequest,
    Metadata,
    Prediction,
    Problem,
    Status,
    Whole,
    columns_of,
    to_records,
)
from mlops_course.serving.settings import Settings

__all__ = [
    "ARROW_STREAM",
    "Application",
    "BatchPrediction",
    "BatchRequest",
    "ENV_PREFIX",
    "ERRORS",
    "Engine",
    "FastJSONRequest",
    "FastJSONRoute",
    "JSON",
    "LoadedModel",
    "MAX_BATCH_ROWS",
    "MAX_BODY_BYTES",
    "MAX_ERRORS_SHOWN",
    "METADATA_SUFFIX",
    "Metadata",
    "Model",
    "ModelLoadError",
    "OnnxEngine",
    "PARITY_TOLERANCE",
    "RELOAD_PATH",
    "Prediction",
    "Problem",
    "Reloaded",
    "Settings",
    "SklearnEngine",
    "Status",
    "Whole",
    "app_from_env",
    "body_error",
    "columns_from_arrow",
    "columns_of",
    "content_type",
    "create_app",
    "file_digest",
    "frame_of",
    "install_reload",
    "invalid_body",
    "load_model",
    "loaded_model",
    "make_engine",
    "metadata_path",
    "parity_sample",
    "save_model_metadata",
    "to_arrow_stream",
    "to_records",
    "uvicorn_command",
]
