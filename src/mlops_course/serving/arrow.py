"""Arrow IPC batches, checked by pyarrow before they reach the model (chapter 5)."""

from __future__ import annotations

import io
import logging
from typing import Any

import pandas as pd
from fastapi import HTTPException

from mlops_course.data import (
    FEATURES,
)
from mlops_course.serving.engines import one_line_error
from mlops_course.serving.schemas import MAX_BATCH_ROWS, Application

logger = logging.getLogger("mlops_course.serving")


# ------------------------------------------------------------------------ arrow input
def _arrow_problems(table: Any) -> list[dict[str, Any]]:
    """Each column of ``table`` checked against :class:`Application`'s JSON schema."""
    import pyarrow as pa
    import pyarrow.compute as pc

    problems = []

    def problem(name: str, message: str) -> None:
        problems.append(
            {"type": "arrow_invalid", "loc": ["body", name], "msg": message}
        )

    extra = sorted(set(table.column_names) - set(FEATURES))
    missing = [c for c in FEATURES if c not in table.column_names]
    for name in extra:
        problem(name, "Extra inputs are not permitted")
    for name in missing:
        problem(name, "Field required")
    if not 1 <= table.num_rows <= MAX_BATCH_ROWS:
        problem("", f"a batch has 1 to {MAX_BATCH_ROWS} rows, got {table.num_rows}")
    if problems:
        return problems
    for name, spec in Application.model_json_schema()["properties"].items():
        column = table.column(name)
        options = spec.get("anyOf", [spec])
        spec = next(o for o in options if o.get("type") != "null")
        if column.null_count and len(options) == 1:
            problem(name, f"Field required ({column.null_count} null rows)")
            continue
        if "enum" in spec:
            kind = pa.int64() if spec.get("type") == "integer" else pa.string()
            try:
                column = column.cast(kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                problem(name, f"Input should be a {kind} column, got {column.type}")
                continue
            outside = pc.sum(pc.invert(pc.is_in(column, pa.array(spec["enum"], kind))))
            if outside.as_py():
                shown = ", ".join(map(repr, spec["enum"]))
                problem(name, f"Input should be {shown} ({outside} rows are not)")
            continue
        integer = spec["type"] == "integer"
        wanted = pa.types.is_integer if integer else pa.types.is_floating
        if not (wanted(column.type) or pa.types.is_integer(column.type)):
            kind = "an integer" if integer else "a number"
            problem(name, f"Input should be {kind} column, got {column.type}")
            continue
        values = column.cast(pa.float64())
        if pc.sum(pc.invert(pc.is_finite(values))).as_py():
            problem(name, "Input should be a finite number")
            continue
        for key, test, words in (
            ("minimum", pc.less, "greater than or equal to"),
            ("exclusiveMinimum", pc.less_equal, "greater than"),
            ("maximum", pc.greater, "less than or equal to"),
        ):
            if key in spec and (bad := pc.sum(test(values, spec[key])).as_py()):
                problem(name, f"Input should be {words} {spec[key]:g} ({bad} rows)")
    return problems


def columns_from_arrow(body: bytes) -> dict[str, Any]:
    """The feature columns of an Arrow IPC stream, or a 422 naming what is wrong."""
    import pyarrow as pa

    try:
        table = pa.ipc.open_stream(io.BytesIO(body)).read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise HTTPException(
            422, f"not an Arrow IPC stream: {one_line_error(exc)}"
        ) from exc
    problems = _arrow_problems(table)
    if problems:
        raise HTTPException(422, problems)
    return {
        name: table.column(name).to_numpy(zero_copy_only=False) for name in FEATURES
    }


def to_arrow_stream(frame: pd.DataFrame) -> bytes:
    """The feature columns of ``frame`` as an Arrow IPC stream (a batch body)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame[FEATURES], preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
