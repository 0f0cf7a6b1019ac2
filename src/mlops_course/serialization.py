"""Shipping the credit-default model: ONNX export and inference, model input types.

Chapter 4 (model serialisation) teaches the ``skl2onnx.convert_sklearn`` and
``onnxruntime.InferenceSession`` calls these wrap and checks that they agree;
the serving chapter (5) and the serving benchmarks use :func:`to_onnx` and
:class:`OnnxModel` to answer requests without scikit-learn; chapters 3, 4 and
the phase 1 capstone use :func:`as_model_input` to give MLflow signatures the
column types the model really accepts.

ONNX input design: one named input per feature column, each of shape
``[None, 1]``: ``float32`` for numeric columns, ``string`` for categorical ones.
skl2onnx maps these names onto the ``ColumnTransformer``'s column selectors, so
the exported graph needs no column-index bookkeeping; a JSON record maps onto
the inputs name by name; and the graph documents its own contract (a Triton
``config.pbtxt`` or a client in another language lists the same names). A
missing numeric value is ``NaN`` (the graph's imputer fills it, as in
scikit-learn) and an unknown category encodes to all zeros (as with
``handle_unknown="ignore"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlops_course.data import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES

#: The ONNX opsets the course exports to (recent enough for every operator the
#: linear pipeline needs, old enough for older ONNX Runtime and Triton builds).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
PROBA_OUTPUT = "probabilities"


def as_model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns in model order, numbers as float64 and categories as str.

    Integer columns cannot hold a missing value, so the course declares every
    numeric feature as a double (MLflow signatures, ONNX float inputs).
    """
    missing = [c for c in FEATURES if c not in frame.columns]
    if missing:
        raise KeyError(f"frame lacks feature columns {missing}")
    out = frame[FEATURES].copy()
    out[NUMERIC_FEATURES] = out[NUMERIC_FEATURES].astype("float64")
    for name in CATEGORICAL_FEATURES:
        out[name] = out[name].astype(str)
    return out


def onnx_input_types(sample_frame: pd.DataFrame) -> list[tuple[str, Any]]:
    """skl2onnx's ``initial_types``: one ``[None, 1]`` input per column of the frame.

    Numeric columns become ``float`` tensors, the others ``string`` tensors (the
    ONNX graphs of :func:`to_onnx` and of ``torch_model`` take raw features).
    """
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = []
    for name in sample_frame.columns:
        if pd.api.types.is_numeric_dtype(sample_frame[name]):
            types.append((str(name), FloatTensorType([None, 1])))
        else:
            types.append((str(name), StringTensorType([None, 1])))
    return types


def to_onnx(pipeline, sample_frame: pd.DataFrame, *, target_opset=None) -> bytes:
    """Convert a fitted scikit-learn pipeline to ONNX bytes, one input per column.

    Numeric columns of ``sample_frame`` become ``float32`` inputs, the others
    ``string`` inputs; the output ``probabilities`` is a plain ``[n, 2]`` tensor
    (no ZipMap), so ONNX Runtime returns a NumPy array.
    """
    from skl2onnx import convert_sklearn

    model = convert_sklearn(
        pipeline,
        name="credit_default",
        initial_types=onnx_input_types(sample_frame),
        target_opset=target_opset or TARGET_OPSET,
        options={"zipmap": False},
    )
    return model.SerializeToString()


class OnnxModel:
    """An ONNX classifier loaded with ONNX Runtime on the CPU, giving P(default)."""

    def __init__(self, model: bytes, *, threads: int | None = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.numeric_inputs = [i.name for i in inputs if i.type != "tensor(string)"]
        self.string_inputs = [i.name for i in inputs if i.type == "tensor(string)"]
        outputs = [o.name for o in self.session.get_outputs()]
        self._output = PROBA_OUTPUT if PROBA_OUTPUT in outputs else outputs[-1]

    def feeds_from_columns(self, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Feeds from a column -> values mapping (a dict of lists, a DataFrame)."""
        missing = [n for n in self.input_names if n not in columns]
        if missing:
            raise KeyError(f"missing input columns {missing}")
        feeds = {}
        for name in self.numeric_inputs:
            feeds[name] = np.asarray(columns[name], dtype=np.float32).reshape(-1, 1)
        for name in self.string_inputs:
            values = columns[name]
            feeds[name] = np.array(
                ["" if v is None else str(v) for v in values], dtype=object
            ).reshape(-1, 1)
        return feeds

    def feeds_from_records(
        self, records: Sequence[Mapping[str, Any]]
    ) -> dict[str, np.ndarray]:
        """Feeds from row dicts (parsed JSON); None is missing, an absent key fails."""
        names = self.input_names
        try:
            columns = {name: [row[name] for row in records] for name in names}
        except KeyError as err:
            raise KeyError(f"a row lacks input column {err.args[0]!r}") from None
        return self.feeds_from_columns(columns)

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(default) for ready-made feeds (the fastest path)."""
        return self.session.run([self._output], dict(feeds))[0][:, 1]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(default) for each row of a DataFrame holding the input columns."""
        return self.run(self.feeds_from_columns(frame))

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(default) for a list of row dicts, without building a DataFrame."""
        return self.run(self.feeds_from_records(records))
