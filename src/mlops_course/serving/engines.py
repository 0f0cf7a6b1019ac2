"""Scoring engines: ONNX Runtime (skl2onnx, parity-checked) or scikit-learn.

Chapter 5 compares them; the service picks one when the model loads.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlops_course.data import (
    FEATURES,
    NUMERIC_FEATURES,
)
from mlops_course.serving.schemas import PARITY_TOLERANCE

logger = logging.getLogger("mlops_course.serving")


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message is safe to show to clients."""


def one_line_error(exc: BaseException, limit: int = 300) -> str:
    """``"TypeName: first line of the message"`` (at most ``limit`` characters of it).

    What the service puts in an error it shows a client or logs in one line: the
    kind of failure and its first line, never a multi-line traceback or dump.
    """
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {(text[0] if text else '')[:limit]}"


# --------------------------------------------------------------------------- engines
class Engine(Protocol):
    """Scores columns of validated applications."""

    name: str

    def predict_proba(self, columns: dict[str, list]) -> np.ndarray:
        """P(default) for each row."""


def frame_of(columns: dict[str, Any]) -> pd.DataFrame:
    """The DataFrame a scikit-learn pipeline expects (None becomes NaN)."""
    frame = pd.DataFrame({n: columns[n] for n in FEATURES})
    frame[NUMERIC_FEATURES] = frame[NUMERIC_FEATURES].astype(float)
    return frame


class SklearnEngine:
    """The fitted scikit-learn pipeline itself: a DataFrame, then ``predict_proba``."""

    name = "sklearn"

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def predict_proba(self, columns: dict[str, Any]) -> np.ndarray:
        """P(default) for each row."""
        return self.pipeline.predict_proba(frame_of(columns))[:, 1]


class OnnxEngine:
    """An ONNX graph (one input per feature) run by ONNX Runtime on one thread."""

    name = "onnx"

    def __init__(self, model: bytes) -> None:
        from mlops_course.serialization import OnnxModel

        self.model = OnnxModel(model, threads=1)
        if sorted(self.model.input_names) != sorted(FEATURES):
            raise ModelLoadError(f"ONNX inputs {self.model.input_names} != {FEATURES}")

    @classmethod
    def from_pipeline(cls, pipeline: Any, sample: pd.DataFrame) -> OnnxEngine:
        """Convert with skl2onnx; refuse the result if it disagrees on ``sample``."""
        from mlops_course.serialization import to_onnx

        engine = cls(to_onnx(pipeline, sample))
        gap = float(
            np.max(
                np.abs(
                    engine.predict_proba(sample) - pipeline.predict_proba(sample)[:, 1]
                )
            )
        )
        if not gap <= PARITY_TOLERANCE:
            raise ModelLoadError(f"ONNX differs from scikit-learn by {gap:.2g}")
        return engine

    def predict_proba(self, columns: Any) -> np.ndarray:
        """P(default) for each row."""
        return self.model.run(self.model.feeds_from_columns(columns)).astype(float)


def parity_sample(n_rows: int = 256, seed: int = 0) -> pd.DataFrame:
    """Generated applications (some lack employment years) to check a conversion."""
    from mlops_course.data import generate_applications
    from mlops_course.serialization import as_model_input

    return as_model_input(generate_applications(n_rows, seed=seed))


def make_engine(pipeline: Any, engine: str) -> Engine:
    """The engine ``engine`` names for a fitted pipeline.

    ``"onnx"``: ONNX Runtime if the pipeline converts and agrees with itself
    within ``PARITY_TOLERANCE``, else a :class:`ModelLoadError` (the service's
    default: refuse rather than serve something slower than planned).
    ``"auto"``: the same, but fall back to scikit-learn with a warning.
    ``"sklearn"``: the pipeline itself.
    """
    if not callable(getattr(pipeline, "predict_proba", None)):
        raise ModelLoadError(f"{type(pipeline).__name__} has no predict_proba")
    if engine == "sklearn":
        return SklearnEngine(pipeline)
    try:
        return OnnxEngine.from_pipeline(pipeline, parity_sample())
    except Exception as exc:
        if engine != "auto":
            raise ModelLoadError(
                f"no ONNX engine: {one_line_error(exc)} (MLOPS_ENGINE=sklearn serves "
                "the pipeline itself; MLOPS_ENGINE=auto falls back to it)"
            ) from exc
        logger.warning("serving with scikit-learn: %s", one_line_error(exc))
        return SklearnEngine(pipeline)
