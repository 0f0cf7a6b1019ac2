"""The course's model service: the credit-default model behind a FastAPI app.

Chapter 5 builds and tests it; chapters 6 (containers) and 7 (capstone) start
it the same way::

    MLOPS_MODEL_PATH=model.joblib python -m uvicorn \\
        mlops_course.serving:app_from_env --factory --host 127.0.0.1 --port 8000

One concern a module (each module's docstring says what it holds); this
package re-exports the names chapters, tests and benchmarks import from
``mlops_course.serving`` (``tests/test_serving.py`` checks each is used).

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
- Every answer a model gave names it: ``X-Model-Name`` and ``X-Model-Version``
  headers (declared in the OpenAPI document), the first link of chapter 18's
  lineage from a prediction back to its data and commit.
"""

from __future__ import annotations

from mlops_course.serving.app import (
    MAX_ERRORS_SHOWN,
    MODEL_NAME_HEADER,
    MODEL_VERSION_HEADER,
    app_from_env,
    create_app,
)
from mlops_course.serving.arrow import columns_from_arrow, to_arrow_stream
from mlops_course.serving.engines import (
    ModelLoadError,
    OnnxEngine,
    SklearnEngine,
    parity_sample,
)
from mlops_course.serving.launch import uvicorn_command
from mlops_course.serving.loading import (
    METADATA_SUFFIX,
    LoadedModel,
    file_digest,
    metadata_path,
    save_model_metadata,
)
from mlops_course.serving.reload import RELOAD_PATH
from mlops_course.serving.schemas import (
    ARROW_STREAM,
    MAX_BATCH_ROWS,
    MAX_BODY_BYTES,
    PARITY_TOLERANCE,
    Application,
    BatchRequest,
    columns_of,
    to_records,
)
from mlops_course.serving.settings import Settings

__all__ = [
    "ARROW_STREAM",
    "Application",
    "BatchRequest",
    "LoadedModel",
    "MAX_BATCH_ROWS",
    "MAX_BODY_BYTES",
    "MAX_ERRORS_SHOWN",
    "MODEL_NAME_HEADER",
    "MODEL_VERSION_HEADER",
    "METADATA_SUFFIX",
    "ModelLoadError",
    "OnnxEngine",
    "PARITY_TOLERANCE",
    "RELOAD_PATH",
    "Settings",
    "SklearnEngine",
    "app_from_env",
    "columns_from_arrow",
    "columns_of",
    "create_app",
    "file_digest",
    "metadata_path",
    "parity_sample",
    "save_model_metadata",
    "to_arrow_stream",
    "to_records",
    "uvicorn_command",
]
