"""The service's contract: request and response models, limits, JSON rows.

Chapter 5 reads it through the generated OpenAPI document; chapter 15's
multi-model service adds :data:`ColumnBatch`, a batch sent column by column.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from mlops_course.data import (
    FEATURES,
    HOME_OWNERSHIP,
    LOAN_PURPOSE,
    REGIONS,
)

logger = logging.getLogger("mlops_course.serving")

#: Largest batch ``/predict/batch`` accepts; past it the answer is a 422.
MAX_BATCH_ROWS = 10_000
#: Largest request body, in bytes (10,000 JSON rows take about 3.5 MB); past it, 413.
MAX_BODY_BYTES = 16 * 1024 * 1024
JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
ENV_PREFIX = "MLOPS_"
#: Largest gap allowed between ONNX Runtime (float32) and scikit-learn at load time.
PARITY_TOLERANCE = 1e-5


# --------------------------------------------------------------------------- schemas
def _json_integer(value: Any) -> Any:
    """30.0 is the integer 30 (as in JSON Schema); 30.5, "30" and true stay errors."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


#: A whole number: strict (no bool, no text), but 30.0 counts as 30.
JSONInteger = Annotated[int, BeforeValidator(_json_integer)]


class Application(BaseModel):
    """One loan application: the model's 13 features, with the values we accept."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    age: JSONInteger = Field(ge=18, le=100, description="Applicant's age in years.")
    annual_income: float = Field(gt=0, le=10_000_000, description="Yearly income.")
    employment_years: float | None = Field(
        ge=0, le=80, description="Years in employment; null when unknown (imputed)."
    )
    credit_history_months: JSONInteger = Field(ge=0, le=1_200)
    num_open_accounts: JSONInteger = Field(ge=0, le=100)
    num_late_payments_2y: JSONInteger = Field(ge=0, le=100)
    loan_amount: float = Field(gt=0, le=10_000_000)
    loan_term_months: Annotated[Literal[12, 24, 36, 60], BeforeValidator(_json_integer)]
    interest_rate: float = Field(ge=0, le=100, description="Annual rate in percent.")
    debt_to_income: float = Field(ge=0, le=10)
    home_ownership: Literal[tuple(HOME_OWNERSHIP)]  # type: ignore[valid-type]
    loan_purpose: Literal[tuple(LOAN_PURPOSE)]  # type: ignore[valid-type]
    region: Literal[tuple(REGIONS)]  # type: ignore[valid-type]


class BatchRequest(BaseModel):
    """Up to :data:`MAX_BATCH_ROWS` applications scored in one call."""

    model_config = ConfigDict(extra="forbid", strict=True)

    applications: list[Application] = Field(min_length=1, max_length=MAX_BATCH_ROWS)


class Prediction(BaseModel):
    """The service's answer for one application."""

    probability_of_default: float = Field(ge=0, le=1)
    decision: Literal["approve", "reject"]
    threshold: float
    model_version: str


class BatchPrediction(BaseModel):
    """Answers for a batch, column by column, in the order of the request."""

    probability_of_default: list[Annotated[float, Field(ge=0, le=1)]]
    decision: list[Literal["approve", "reject"]]
    threshold: float
    model_version: str
    n_rows: int

    @classmethod
    def scored(cls, proba, *, threshold: float, model_version: str) -> BatchPrediction:
        """The answer for probabilities ``proba``: reject at or above ``threshold``."""
        proba = np.asarray(proba, dtype=float)
        return cls(
            probability_of_default=proba.tolist(),
            decision=np.where(proba >= threshold, "reject", "approve").tolist(),
            threshold=threshold,
            model_version=model_version,
            n_rows=len(proba),
        )


class Metadata(BaseModel):
    """What is being served: enough to trace a prediction back to its model and data."""

    model_name: str
    model_version: str
    training_data_hash: str | None
    model_source: str
    engine: str
    threshold: float
    threshold_source: str
    features: list[str]
    max_batch_rows: int


class Status(BaseModel):
    """The answer of ``/health`` and ``/ready``."""

    status: str
    model_version: str | None = None


class Problem(BaseModel):
    """An error answer: ``detail`` says what is wrong (a list of fields for a 422)."""

    detail: Any


# ------------------------------------------------------------------ columnar batches
class _Columns(BaseModel):
    """Base of :data:`ColumnBatch`: strict values, no unknown column."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def unequal_columns(batch: BaseModel) -> str | None:
    """Why the columns of ``batch`` cannot be rows (lengths differ), or None.

    Checked in the route, not by a validator: a validator's 422 would echo the
    whole body back as its ``input``.
    """
    lengths = {name: len(values) for name, values in batch}
    if len(set(lengths.values())) <= 1:
        return None
    common = Counter(lengths.values()).most_common(1)[0][0]
    odd = ", ".join(f"{n}={k}" for n, k in lengths.items() if k != common)
    return f"every column needs the same length ({common} rows); got {odd}"


def _column(name: str) -> Any:
    """A list of ``Application.<name>`` values, with that field's own constraints."""
    info = Application.model_fields[name]
    value = info.annotation
    if info.metadata:
        value = Annotated[(value, *info.metadata)]
    return (
        list[value],
        Field(min_length=1, max_length=MAX_BATCH_ROWS, description=info.description),
    )


#: A batch sent column by column: ``{"age": [...], "annual_income": [...], ...}``,
#: one list per feature, each value checked as :class:`Application` checks it.
#: The body is 13 lists instead of N objects: no key repeated per row, and
#: pydantic validates each list in one pass.
ColumnBatch = create_model(
    "ColumnBatch",
    __base__=_Columns,
    __doc__="A batch of applications, one list per feature, all of equal length.",
    **{name: _column(name) for name in Application.model_fields},
)


ERRORS = {
    code: {"model": Problem, "description": text}
    for code, text in {
        400: "The body is not valid UTF-8, or nested too deeply.",
        413: f"The body is over {MAX_BODY_BYTES:,} bytes.",
        415: "The body is not of the content type this route reads.",
        422: "The body does not follow the contract; `detail` names each field.",
        503: "The model is not loaded; `detail` says why.",
    }.items()
}


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The feature columns of ``frame`` as JSON-ready dicts (NaN becomes null)."""
    records = frame[FEATURES].to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                record[key] = None
    return records


def columns_of(applications: Sequence[Application]) -> dict[str, list]:
    """Validated applications as one list per feature (what the engines read)."""
    return {n: [getattr(a, n) for a in applications] for n in FEATURES}
