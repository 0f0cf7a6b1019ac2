"""The course's model service: the credit-default model behind a typed FastAPI app.

Chapter 5 builds and load-tests it; later chapters (containers, registry,
A/B and shadow tests, monitoring, multi-model serving) start it the same way::

    MLOPS_MODEL_PATH=model.joblib python -m uvicorn \\
        mlops_course.serving:app_from_env --factory --host 127.0.0.1 --port 8000

What it does, and why:

- :func:`create_app` is an app factory: nothing happens at import time; the
  model is loaded in the lifespan handler into ``app.state``. A model that
  cannot be loaded does not crash the process: ``/health`` stays 200,
  ``/ready`` and the prediction routes answer 503 with a JSON reason.
- Requests are pydantic v2 models with ranges, ``Literal`` categories and
  ``extra="forbid"``: bad input gets a 422 naming the field.
- Speed: the handlers read the body once and validate it with
  ``model_validate_json`` (no ``json.loads`` then ``model_validate``), and a
  fitted logistic-regression pipeline is *compiled* into a few numpy
  operations (:class:`LinearEngine`) so no pandas DataFrame or
  ColumnTransformer runs per request. Other models fall back to
  scikit-learn (:class:`SklearnEngine`); an ONNX file runs in ONNX Runtime
  (:class:`OnnxEngine`, chapter 4's export). ``/predict/batch`` also accepts Arrow IPC
  (``application/vnd.apache.arrow.stream``), which skips JSON parsing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import os
import typing
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic_core
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_course.data import (
    CATEGORICAL_FEATURES,
    FEATURES,
    HOME_OWNERSHIP,
    LOAN_PURPOSE,
    NUMERIC_FEATURES,
    REGIONS,
)

logger = logging.getLogger("mlops_course.serving")

#: Largest batch ``/predict/batch`` accepts; past it the answer is a 422.
MAX_BATCH_ROWS = 10_000
#: Largest request body read, in bytes (10,000 JSON rows take about 3.5 MB).
MAX_BODY_BYTES = 16 * 1024 * 1024
ARROW_STREAM = "application/vnd.apache.arrow.stream"
ENGINES = ("auto", "numpy", "sklearn", "onnx")
ENV_PREFIX = "MLOPS_"


# --------------------------------------------------------------------------- schemas
class Application(BaseModel):
    """One loan application: the model's 13 input features, with the ranges we accept."""

    model_config = ConfigDict(extra="forbid")

    age: int = Field(ge=18, le=100, description="Applicant's age in years.")
    annual_income: float = Field(gt=0, le=10_000_000, description="Yearly income.")
    employment_years: float | None = Field(
        ge=0, le=80, description="Years in employment; null when unknown (imputed)."
    )
    credit_history_months: int = Field(ge=0, le=1_200)
    num_open_accounts: int = Field(ge=0, le=100)
    num_late_payments_2y: int = Field(ge=0, le=100)
    loan_amount: float = Field(gt=0, le=10_000_000)
    loan_term_months: Literal[12, 24, 36, 60]
    interest_rate: float = Field(ge=0, le=100, description="Annual rate in percent.")
    debt_to_income: float = Field(ge=0, le=10)
    home_ownership: Literal[tuple(HOME_OWNERSHIP)]  # type: ignore[valid-type]
    loan_purpose: Literal[tuple(LOAN_PURPOSE)]  # type: ignore[valid-type]
    region: Literal[tuple(REGIONS)]  # type: ignore[valid-type]


class BatchRequest(BaseModel):
    """Up to :data:`MAX_BATCH_ROWS` applications scored in one call."""

    model_config = ConfigDict(extra="forbid")

    applications: list[Application] = Field(min_length=1, max_length=MAX_BATCH_ROWS)


class Prediction(BaseModel):
    """The service's answer for one application."""

    probability_of_default: float
    decision: Literal["approve", "reject"]
    threshold: float
    model_version: str


class BatchPrediction(BaseModel):
    """Answers for a batch, column by column, in the order of the request."""

    probability_of_default: list[float]
    decision: list[Literal["approve", "reject"]]
    threshold: float
    model_version: str
    n_rows: int


class Metadata(BaseModel):
    """What is being served: enough to trace a prediction back to its model and data."""

    model_name: str
    model_version: str
    training_data_hash: str | None
    model_source: str
    engine: str
    threshold: float
    features: list[str]
    max_batch_rows: int


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """Where the model comes from and what to report about it.

    Give ``model_path`` (a joblib file) or ``model_uri`` (an MLflow URI such as
    ``models:/credit-default@champion``, with ``tracking_uri``). ``onnx_path``
    serves an ONNX file instead (``model_path`` or ``model_uri`` may still be
    given for the record). ``engine`` picks how to score: ``auto`` uses ONNX when
    given, else the compiled numpy path when the model allows it, else sklearn.
    """

    model_path: Path | None = None
    model_uri: str | None = None
    tracking_uri: str | None = None
    onnx_path: Path | None = None
    engine: Literal["auto", "numpy", "sklearn", "onnx"] = "auto"
    model_name: str = "credit-default"
    model_version: str | None = None
    training_data_hash: str | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")
        for name in ("model_path", "onnx_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``MLOPS_MODEL_PATH``, ``MLOPS_MODEL_URI``, ``MLOPS_THRESHOLD``..."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        threshold = get("THRESHOLD")
        return cls(
            model_path=get("MODEL_PATH"),  # type: ignore[arg-type]
            model_uri=get("MODEL_URI"),
            tracking_uri=get("TRACKING_URI") or env.get("MLFLOW_TRACKING_URI") or None,
            onnx_path=get("ONNX_PATH"),  # type: ignore[arg-type]
            engine=get("ENGINE") or "auto",  # type: ignore[arg-type]
            model_name=get("MODEL_NAME") or "credit-default",
            model_version=get("MODEL_VERSION"),
            training_data_hash=get("TRAINING_DATA_HASH"),
            threshold=float(threshold) if threshold else 0.5,
        )

    def to_env(self) -> dict[str, str]:
        """The environment variables that :meth:`from_env` reads back into these settings."""
        values = {
            "MODEL_PATH": self.model_path,
            "MODEL_URI": self.model_uri,
            "TRACKING_URI": self.tracking_uri,
            "ONNX_PATH": self.onnx_path,
            "ENGINE": self.engine,
            "MODEL_NAME": self.model_name,
            "MODEL_VERSION": self.model_version,
            "TRAINING_DATA_HASH": self.training_data_hash,
            "THRESHOLD": repr(self.threshold),
        }
        return {ENV_PREFIX + k: str(v) for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class Batch:
    """Applications as columns: a float matrix of the numeric features, arrays of categories."""

    numeric: np.ndarray  # (n, len(NUMERIC_FEATURES)) float64, NaN where missing
    categorical: tuple[
        np.ndarray, ...
    ]  # one object array per CATEGORICAL_FEATURES entry

    def __len__(self) -> int:
        return self.numeric.shape[0]

    @classmethod
    def from_applications(cls, applications: Sequence[Application]) -> Batch:
        """Columns of validated applications (no DataFrame on the way)."""
        numbers = attrgetter(*NUMERIC_FEATURES)
        numeric = np.array([numbers(a) for a in applications], dtype=float)
        categorical = tuple(
            np.array([getattr(a, name) for a in applications], dtype=object)
            for name in CATEGORICAL_FEATURES
        )
        return cls(
            numeric.reshape(len(applications), len(NUMERIC_FEATURES)), categorical
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Batch:
        """Columns of a DataFrame holding the model's features."""
        numeric = frame[NUMERIC_FEATURES].to_numpy(dtype=float)
        categorical = tuple(
            frame[c].to_numpy(dtype=object) for c in CATEGORICAL_FEATURES
        )
        return cls(numeric, categorical)

    def to_frame(self) -> pd.DataFrame:
        """The DataFrame a scikit-learn pipeline expects."""
        frame = pd.DataFrame(self.numeric, columns=NUMERIC_FEATURES)
        for name, values in zip(CATEGORICAL_FEATURES, self.categorical):
            frame[name] = values
        return frame[FEATURES]


# --------------------------------------------------------------------------- engines
class UnsupportedModel(ValueError):
    """The model is not a pipeline the numpy engine knows how to compile."""


class SklearnEngine:
    """Any fitted scikit-learn classifier: builds the DataFrame, calls ``predict_proba``."""

    name = "sklearn"

    def __init__(self, model: Any) -> None:
        if not hasattr(model, "predict_proba"):
            raise UnsupportedModel(f"{type(model).__name__} has no predict_proba")
        self.model = model

    def predict_proba(self, batch: Batch) -> np.ndarray:
        """Probability of default of each row."""
        return self.model.predict_proba(batch.to_frame())[:, 1]


class LinearEngine:
    """A fitted impute-scale-one-hot-logistic pipeline, compiled to numpy.

    The fitted parameters are read once: the imputer's fill values, the
    scaler's mean and scale (folded into the coefficients), one coefficient per
    known category (unknown categories add 0, as ``handle_unknown="ignore"``
    does) and the intercept. Scoring is then ``expit(b + x @ w + sum(lookups))``.
    """

    name = "numpy"

    def __init__(
        self,
        fill: np.ndarray,
        weights: np.ndarray,
        intercept: float,
        category_weights: tuple[dict[str, float], ...],
    ) -> None:
        self.fill = fill
        self.weights = weights
        self.intercept = intercept
        self.category_weights = category_weights

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> LinearEngine:
        """Compile a fitted ``make_model("logreg")``-shaped pipeline, or raise UnsupportedModel."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            raise UnsupportedModel(
                "expected a Pipeline of a ColumnTransformer and a classifier"
            )
        prep, clf = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(prep, ColumnTransformer):
            raise UnsupportedModel("the first step is not a ColumnTransformer")
        if not isinstance(clf, LogisticRegression) or len(clf.classes_) != 2:
            raise UnsupportedModel("the last step is not a binary LogisticRegression")
        coef = np.asarray(clf.coef_, dtype=float).ravel()
        intercept = float(np.ravel(clf.intercept_)[0])

        fill = np.full(len(NUMERIC_FEATURES), np.nan)
        weights = np.zeros(len(NUMERIC_FEATURES))
        category_weights: list[dict[str, float]] = [{} for _ in CATEGORICAL_FEATURES]
        seen: set[str] = set()
        offset = 0
        for name, transformer, columns in prep.transformers_:
            if transformer == "drop" or (name == "remainder" and len(columns) == 0):
                continue
            columns = list(columns)
            if any(not isinstance(c, str) for c in columns):
                raise UnsupportedModel("columns must be selected by name")
            steps = (
                transformer.steps
                if isinstance(transformer, Pipeline)
                else [("only", transformer)]
            )
            steps = [s for _, s in steps if s != "passthrough"]
            if len(steps) == 1 and isinstance(steps[0], OneHotEncoder):
                encoder = steps[0]
                if encoder.handle_unknown != "ignore" or encoder.drop_idx_ is not None:
                    raise UnsupportedModel(
                        "one-hot encoder must ignore unknowns and drop none"
                    )
                for column, categories in zip(columns, encoder.categories_):
                    if column not in CATEGORICAL_FEATURES:
                        raise UnsupportedModel(
                            f"unexpected categorical column {column!r}"
                        )
                    table = category_weights[CATEGORICAL_FEATURES.index(column)]
                    for category in categories:
                        table[str(category)] = float(coef[offset])
                        offset += 1
                    seen.add(column)
                continue
            imputer = scaler = None
            for step in steps:
                if (
                    isinstance(step, SimpleImputer)
                    and imputer is None
                    and scaler is None
                ):
                    if step.add_indicator:
                        raise UnsupportedModel("imputer indicators are not supported")
                    imputer = step
                elif isinstance(step, StandardScaler) and scaler is None:
                    scaler = step
                else:
                    raise UnsupportedModel(f"unsupported step {type(step).__name__}")
            n = len(columns)
            stats = imputer.statistics_ if imputer is not None else np.full(n, np.nan)
            mean = getattr(scaler, "mean_", None) if scaler is not None else None
            scale = getattr(scaler, "scale_", None) if scaler is not None else None
            mean = np.zeros(n) if mean is None else np.asarray(mean, dtype=float)
            scale = np.ones(n) if scale is None else np.asarray(scale, dtype=float)
            if len(stats) != n:
                raise UnsupportedModel("imputer dropped empty features")
            for i, column in enumerate(columns):
                if column not in NUMERIC_FEATURES:
                    raise UnsupportedModel(f"unexpected numeric column {column!r}")
                j = NUMERIC_FEATURES.index(column)
                w = coef[offset] / scale[i]
                weights[j] = w
                fill[j] = float(stats[i])
                intercept -= w * mean[i]
                offset += 1
                seen.add(column)
        if offset != coef.size:
            raise UnsupportedModel(
                f"mapped {offset} inputs to {coef.size} coefficients"
            )
        missing = sorted(set(FEATURES) - seen)
        if missing:
            raise UnsupportedModel(f"the model does not use {missing}")
        return cls(fill, weights, intercept, tuple(category_weights))

    def predict_proba(self, batch: Batch) -> np.ndarray:
        """Probability of default of each row."""
        x = batch.numeric
        if np.isnan(x).any():
            x = np.where(np.isnan(x), self.fill, x)
        z = x @ self.weights + self.intercept
        for table, values in zip(self.category_weights, batch.categorical):
            # Unknown categories weigh 0, as OneHotEncoder(handle_unknown="ignore") does.
            z += np.fromiter(map(table.get, values, repeat(0.0)), float, len(values))
        return 1.0 / (1.0 + np.exp(-z))


class OnnxEngine:
    """An ONNX file run by ONNX Runtime, as chapter 4 exports it (one input per feature).

    The file is written by :func:`mlops_course.serialization.to_onnx`.
    """

    name = "onnx"

    def __init__(self, path: str | os.PathLike) -> None:
        from mlops_course.serialization import OnnxModel

        self.model = OnnxModel(Path(path).read_bytes(), threads=1)
        unknown = sorted(set(self.model.input_names) - set(FEATURES))
        if unknown:
            raise UnsupportedModel(f"ONNX inputs {unknown} are not model features")

    def predict_proba(self, batch: Batch) -> np.ndarray:
        """Probability of default of each row."""
        feeds = {}
        for name in self.model.input_names:
            if name in NUMERIC_FEATURES:
                j = NUMERIC_FEATURES.index(name)
                feeds[name] = batch.numeric[:, j : j + 1].astype(np.float32)
            else:
                feeds[name] = batch.categorical[
                    CATEGORICAL_FEATURES.index(name)
                ].reshape(-1, 1)
        return np.asarray(self.model.run(feeds), dtype=float)


# --------------------------------------------------------------------------- loading
@dataclass
class LoadedModel:
    """A model ready to score, and what ``/metadata`` says about it."""

    engine: SklearnEngine | LinearEngine | OnnxEngine
    name: str
    version: str
    source: str
    training_data_hash: str | None
    threshold: float

    def metadata(self) -> Metadata:
        """The ``/metadata`` answer."""
        return Metadata(
            model_name=self.name,
            model_version=self.version,
            training_data_hash=self.training_data_hash,
            model_source=self.source,
            engine=self.engine.name,
            threshold=self.threshold,
            features=list(FEATURES),
            max_batch_rows=MAX_BATCH_ROWS,
        )


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message is safe to show to clients."""


def file_digest(path: str | os.PathLike, length: int = 12) -> str:
    """The first ``length`` hex digits of a file's SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {(text[0] if text else '')[:limit]}"


def _make_engine(model: Any, engine: str) -> SklearnEngine | LinearEngine:
    if engine in ("auto", "numpy"):
        try:
            return LinearEngine.from_pipeline(model)
        except UnsupportedModel:
            if engine == "numpy":
                raise
    return SklearnEngine(model)


def _load_from_mlflow(settings: Settings) -> tuple[Any, dict[str, str]]:
    import mlflow
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient

    if settings.tracking_uri:
        mlflow.set_tracking_uri(settings.tracking_uri)
    uri = settings.model_uri or ""
    info: dict[str, str] = {}
    if uri.startswith("models:/"):
        client = MlflowClient()
        name, _, ref = uri[len("models:/") :].partition("@")
        if ref:
            version = client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = uri[len("models:/") :].partition("/")
            version = client.get_model_version(name, number)
        info["name"] = version.name
        info["version"] = str(version.version)
        tags = dict(version.tags or {})
        data_hash = tags.get("training_data_hash")
        if data_hash is None and version.run_id:
            run = client.get_run(version.run_id)
            data_hash = run.data.tags.get("training_data_hash") or run.data.params.get(
                "training_data_hash"
            )
        if data_hash:
            info["training_data_hash"] = data_hash
    model = mlflow.sklearn.load_model(uri)
    return model, info


def load_model(settings: Settings) -> LoadedModel:
    """Load the model the settings describe, or raise ModelLoadError with a short reason."""
    if (
        settings.model_path is None
        and settings.model_uri is None
        and not settings.onnx_path
    ):
        raise ModelLoadError(
            "no model configured: set MLOPS_MODEL_PATH or MLOPS_MODEL_URI"
        )
    name, version, data_hash = settings.model_name, settings.model_version, None
    try:
        if settings.onnx_path is not None or settings.engine == "onnx":
            if settings.onnx_path is None:
                raise ModelLoadError("engine 'onnx' needs MLOPS_ONNX_PATH")
            if not settings.onnx_path.is_file():
                raise ModelLoadError(f"ONNX file not found: {settings.onnx_path.name}")
            engine: Any = OnnxEngine(settings.onnx_path)
            source = f"onnx:{settings.onnx_path.name}"
            version = version or f"sha256:{file_digest(settings.onnx_path)}"
        elif settings.model_uri is not None:
            model, info = _load_from_mlflow(settings)
            engine = _make_engine(model, settings.engine)
            source = settings.model_uri
            name = info.get("name", name)
            version = version or info.get("version", "unknown")
            data_hash = info.get("training_data_hash")
        else:
            import joblib

            path = settings.model_path
            assert path is not None
            if not path.is_file():
                raise ModelLoadError(f"model file not found: {path.name}")
            # joblib/pickle runs code while loading: only load files you produced (chapter 4).
            model = joblib.load(path)
            engine = _make_engine(model, settings.engine)
            source = f"file:{path.name}"
            version = version or f"sha256:{file_digest(path)}"
    except ModelLoadError:
        raise
    except Exception as exc:  # any loader failure becomes a short, client-safe reason
        raise ModelLoadError(_first_line(exc)) from exc
    return LoadedModel(
        engine=engine,
        name=name,
        version=str(version),
        source=source,
        training_data_hash=settings.training_data_hash or data_hash,
        threshold=settings.threshold,
    )


# --------------------------------------------------------------------------- arrow input
@dataclass(frozen=True)
class _Rule:
    name: str
    kind: Literal["int", "float", "choice"]
    nullable: bool
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] = ()


def _rules() -> dict[str, _Rule]:
    """Read each field's constraints from :class:`Application`: one source of truth."""
    rules = {}
    for name, info in Application.model_fields.items():
        annotation = info.annotation
        args = typing.get_args(annotation)
        nullable = type(None) in args
        if nullable:
            annotation = next(a for a in args if a is not type(None))
        bounds: dict[str, float] = {}
        for meta in info.metadata:
            for key in ("ge", "gt", "le"):
                if hasattr(meta, key):
                    bounds[key] = float(getattr(meta, key))
        if typing.get_origin(annotation) is Literal:
            rules[name] = _Rule(
                name, "choice", nullable, choices=typing.get_args(annotation)
            )
        else:
            kind = "int" if annotation is int else "float"
            rules[name] = _Rule(name, kind, nullable, **bounds)  # type: ignore[arg-type]
    return rules


_RULES = _rules()


def _error(name: str, kind: str, msg: str, value: Any = None) -> dict[str, Any]:
    loc = ["body", name] if name else ["body"]
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def _first_bad(rule: _Rule, values: np.ndarray, bad: np.ndarray, kind: str, msg: str):
    """A 422 error entry for the rows flagged ``bad``, or None when there are none."""
    rows = np.flatnonzero(bad)
    if rows.size == 0:
        return None
    first = values[rows[0]]
    first = first.item() if hasattr(first, "item") else first
    where = f"{rows.size} rows, first at row {rows[0]}"
    return _error(rule.name, kind, f"{msg} ({where})", first)


def _check_numbers(rule: _Rule, values: np.ndarray) -> dict | None:
    """The first problem with a numeric column (NaN = null, already allowed), if any."""
    valid = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        if rule.kind == "choice":
            shown = ", ".join(repr(c) for c in rule.choices)
            bad = valid & ~np.isin(values, np.array(rule.choices, dtype=float))
            return _first_bad(
                rule, values, bad, "literal_error", f"Input should be {shown}"
            )
        checks = (
            ("ge", np.less, "greater than or equal to"),
            ("gt", np.less_equal, "greater than"),
            ("le", np.greater, "less than or equal to"),
        )
        for key, test, words in checks:
            bound = getattr(rule, key)
            if bound is not None:
                message = f"Input should be {words} {bound:g}"
                problem = _first_bad(
                    rule, values, valid & test(values, bound), key, message
                )
                if problem:
                    return problem
        if rule.kind == "int":
            bad = valid & (values != np.round(values))
            return _first_bad(
                rule, values, bad, "int_from_float", "Input should be an integer"
            )
    return None


def batch_from_arrow(body: bytes) -> Batch:
    """Columns of an Arrow IPC stream, checked against :class:`Application`'s rules.

    Raises RequestValidationError (a 422) naming the first bad column(s).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        table = pa.ipc.open_stream(io.BytesIO(body)).read_all()
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise RequestValidationError(
            [_error("", "arrow_invalid", _first_line(exc))]
        ) from exc
    names = table.column_names
    errors = [
        _error(c, "extra_forbidden", "Extra inputs are not permitted")
        for c in names
        if c not in _RULES
    ]
    errors += [
        _error(c, "missing", "Field required") for c in FEATURES if c not in names
    ]
    if table.num_rows == 0:
        errors.append(_error("", "too_short", "the batch has no rows"))
    if table.num_rows > MAX_BATCH_ROWS:
        message = f"at most {MAX_BATCH_ROWS} rows per batch, got {table.num_rows}"
        errors.append(_error("", "too_long", message))
    if errors:
        raise RequestValidationError(errors)
    numeric = np.empty((table.num_rows, len(NUMERIC_FEATURES)))
    categorical = []
    for name in FEATURES:
        rule, column = _RULES[name], table.column(name)
        if column.null_count and not rule.nullable:
            nulls = np.asarray(column.is_null())
            message = f"Field required ({nulls.sum()} null rows, first at row {nulls.argmax()})"
            errors.append(_error(name, "missing", message))
            continue
        if rule.kind == "choice" and isinstance(rule.choices[0], str):
            kind = column.type
            if not (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or pa.types.is_dictionary(kind)
            ):
                message = f"Input should be a string column, got {column.type}"
                errors.append(_error(name, "string_type", message))
                continue
            column = pc.cast(column, pa.string())
            values = column.to_numpy(zero_copy_only=False)
            inside = pc.is_in(column, value_set=pa.array(rule.choices, pa.string()))
            shown = ", ".join(repr(c) for c in rule.choices)
            message = f"Input should be {shown}"
            problem = _first_bad(
                rule, values, ~np.asarray(inside), "literal_error", message
            )
        else:
            try:
                values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                message = f"Input should be a number column, got {column.type}"
                errors.append(_error(name, "float_type", message))
                continue
            problem = _check_numbers(rule, values)
        if problem:
            errors.append(problem)
        elif name in NUMERIC_FEATURES:
            numeric[:, NUMERIC_FEATURES.index(name)] = values
        else:
            categorical.append(values)
    if errors:
        raise RequestValidationError(errors)
    return Batch(numeric, tuple(categorical))


def to_arrow_stream(frame: pd.DataFrame) -> bytes:
    """The model's feature columns of ``frame`` as an Arrow IPC stream (a batch request body)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame[FEATURES], preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The model's feature columns of ``frame`` as JSON-ready dicts (NaN becomes null)."""
    records = frame[FEATURES].to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                record[key] = None
    return records


# --------------------------------------------------------------------------- the app
def _json(payload: dict[str, Any], status_code: int = 200) -> Response:
    # pydantic-core's Rust serializer: several times faster than json.dumps for float lists.
    return Response(
        pydantic_core.to_json(payload), status_code, media_type="application/json"
    )


def _loaded(request: Request) -> LoadedModel:
    model = getattr(request.app.state, "model", None)
    if model is None:
        reason = getattr(request.app.state, "model_error", None) or "model not loaded"
        raise HTTPException(503, detail=f"model not loaded: {reason}")
    return model


async def _read_body(request: Request) -> bytes:
    """The request body, refused with a 413 past MAX_BODY_BYTES (declared or streamed)."""
    too_big = HTTPException(413, detail=f"request body over {MAX_BODY_BYTES} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


#: At most this many validation errors are returned (a bad 10,000-row batch has many).
MAX_ERRORS_SHOWN = 20


def _validation_error(exc: ValidationError) -> RequestValidationError:
    errors = exc.errors(include_url=False, include_context=False)
    for error in errors:
        error["loc"] = ("body", *error["loc"])
    if len(errors) > MAX_ERRORS_SHOWN:
        hidden = len(errors) - MAX_ERRORS_SHOWN
        errors = errors[:MAX_ERRORS_SHOWN]
        errors.append(_error("", "too_many_errors", f"{hidden} more errors not shown"))
    return RequestValidationError(errors)


def _decisions(proba: np.ndarray, threshold: float) -> list[str]:
    return np.where(proba >= threshold, "reject", "approve").tolist()


def _openapi_body(model: type[BaseModel], *content_types: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    content = {"application/json": {"schema": ref}}
    for kind in content_types:
        content[kind] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content}}


def create_app(settings: Settings) -> FastAPI:
    """The model service for ``settings``; the model loads when the app starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = None
        app.state.model_error = "loading"
        try:
            app.state.model = load_model(settings)
            app.state.model_error = None
            logger.info("model loaded: %s", app.state.model.metadata().model_dump())
        except ModelLoadError as exc:
            app.state.model_error = str(exc)
            logger.error(
                "model not loaded: %s", exc, exc_info=exc.__cause__ is not None
            )
        yield
        app.state.model = None

    app = FastAPI(
        title="Credit-default model service",
        version="1.0",
        summary="Probability that a loan application defaults, and the decision at a threshold.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.model = None
    app.state.model_error = "not started"

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is up (it says nothing about the model)."""
        return {"status": "ok"}

    @app.get("/ready", responses={503: {"description": "The model is not loaded."}})
    async def ready(request: Request) -> dict[str, str]:
        """200 once the model is loaded and can answer, else 503 with the reason."""
        model = _loaded(request)
        return {"status": "ready", "model_version": model.version}

    @app.get("/metadata", response_model=Metadata, responses={503: {}})
    async def metadata(request: Request) -> Response:
        """Which model answers: name, version, source, training data hash, engine."""
        return _json(_loaded(request).metadata().model_dump())

    @app.post(
        "/predict",
        response_model=Prediction,
        responses={422: {}, 503: {}},
        openapi_extra=_openapi_body(Application),
    )
    async def predict(request: Request) -> Response:
        """Score one application (a JSON object of the 13 features)."""
        model = _loaded(request)
        body = await _read_body(request)
        try:
            application = Application.model_validate_json(body)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        p = float(model.engine.predict_proba(Batch.from_applications([application]))[0])
        return _json(
            {
                "probability_of_default": p,
                "decision": "reject" if p >= model.threshold else "approve",
                "threshold": model.threshold,
                "model_version": model.version,
            }
        )

    @app.post(
        "/predict/batch",
        response_model=BatchPrediction,
        responses={413: {}, 422: {}, 503: {}},
        openapi_extra=_openapi_body(BatchRequest, ARROW_STREAM),
    )
    async def predict_batch(request: Request) -> Response:
        """Score up to 10,000 applications: JSON ``{"applications": [...]}`` or Arrow IPC."""
        model = _loaded(request)
        body = await _read_body(request)
        if request.headers.get("content-type", "").startswith(ARROW_STREAM):
            batch = batch_from_arrow(body)
        else:
            try:
                applications = BatchRequest.model_validate_json(body).applications
            except ValidationError as exc:
                raise _validation_error(exc) from None
            batch = Batch.from_applications(applications)
        proba = model.engine.predict_proba(batch)
        return _json(
            {
                "probability_of_default": proba.tolist(),
                "decision": _decisions(proba, model.threshold),
                "threshold": model.threshold,
                "model_version": model.version,
                "n_rows": len(batch),
            }
        )

    def openapi() -> dict[str, Any]:
        # The handlers parse bodies themselves (faster); document them all the same.
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (Application, BatchRequest):
                body = model.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
                schemas.update(body.pop("$defs", {}))
                schemas[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """Uvicorn factory: ``uvicorn mlops_course.serving:app_from_env --factory``."""
    if (
        not logging.getLogger().handlers
    ):  # the process entry point: send our logs to stderr
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s"
        )
    return create_app(Settings.from_env())


def uvicorn_command(*extra: str, access_log: bool = True) -> list[str]:
    """The argument list that runs the service with uvicorn on ``{port}`` (for ``serve``)."""
    import sys

    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "mlops_course.serving:app_from_env",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]
    if not access_log:
        argv.append("--no-access-log")
    return [*argv, *extra]
