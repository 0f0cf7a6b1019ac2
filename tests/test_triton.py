"""Triton's model configuration checked against the model's ONNX graph (chapter 15)."""

from __future__ import annotations

import onnxruntime as ort
import pytest
from google.protobuf import text_format

from mlops_course import serialization, triton
from mlops_course.modeling import features_and_target


@pytest.fixture(scope="module")
def session(trained_logreg):
    pipeline, X, _ = trained_logreg(1_500, seed=3, split=False)
    onnx = serialization.to_onnx(pipeline, features_and_target(X)[0])
    return ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])


def tensor(t) -> str:
    kind = triton.ONNX_TO_TRITON[t.type]
    dims = list(t.shape[1:])
    shape = f"dims: {dims}" if dims else "dims: [1] reshape: { shape: [] }"
    return f'{{ name: "{t.name}" data_type: {kind} {shape} }}'


def config_for(session, *, preferred="[8, 32]", max_batch=64) -> str:
    inputs = ", ".join(tensor(t) for t in session.get_inputs())
    outputs = ", ".join(tensor(t) for t in session.get_outputs())
    return (
        f'name: "m" platform: "onnxruntime_onnx" max_batch_size: {max_batch}\n'
        f"input [{inputs}]\noutput [{outputs}]\n"
        f"dynamic_batching {{ preferred_batch_size: {preferred} }}\n"
        "instance_group [{ count: 1 kind: KIND_CPU }]"
    )


def test_a_config_that_matches_the_graph_passes(session):
    config, problems = triton.check_config(config_for(session), session)
    assert problems == []
    assert len(config.input) == len(session.get_inputs())
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 32]


def test_a_misspelt_field_is_refused_as_triton_would(session):
    text = config_for(session).replace("preferred_batch_size", "preferred_batch")
    with pytest.raises(text_format.ParseError, match="preferred_batch"):
        triton.check_config(text, session)


def test_wrong_types_names_and_batch_sizes_are_each_reported(session):
    first = session.get_inputs()[0]
    text = config_for(session, preferred="[8, 128]").replace(
        f'name: "{first.name}" data_type: {triton.ONNX_TO_TRITON[first.type]}',
        f'name: "{first.name}x" data_type: TYPE_BOOL',
    )
    _, problems = triton.check_config(text, session)
    assert "a preferred batch size exceeds max_batch_size" in problems
    assert any(p.startswith("names differ") for p in problems), problems


def test_a_type_that_differs_from_the_graph_is_named(session):
    first = session.get_inputs()[0]
    kind = triton.ONNX_TO_TRITON[first.type]
    other = "TYPE_FP64" if kind != "TYPE_FP64" else "TYPE_FP32"
    text = config_for(session).replace(f"data_type: {kind}", f"data_type: {other}", 1)
    _, problems = triton.check_config(text, session)
    assert problems == [f"{first.name}: {other} but the model has {first.type}"]
