"""Rows/s of an ONNX model scored in several spawned processes at once."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mlops_course.parallel_scoring import rows_per_second


@pytest.fixture(scope="module")
def matmul_model(tmp_path_factory):
    """features [rows, 8] @ W [8, 4]: the shape of a network without preprocessing."""
    weight = numpy_helper.from_array(
        np.arange(32, dtype=np.float32).reshape(8, 4), name="W"
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "W"], ["out"])],
        "matmul",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 4])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("model") / "matmul.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("processes", "threads"), [(1, 1), (2, 1), (1, 2)])
def test_one_positive_figure_per_round(matmul_model, processes, threads):
    figures = rows_per_second(
        matmul_model, processes=processes, threads=threads, batch_rows=64, rounds=3
    )
    assert len(figures) == 3
    assert all(np.isfinite(f) and f > 0 for f in figures)


@pytest.mark.slow
def test_a_model_that_cannot_load_is_an_error_not_a_hang(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(RuntimeError, match="a scoring process stopped"):
        rows_per_second(broken, processes=2, rounds=1)


@pytest.mark.parametrize(
    "bad", [{"processes": 0}, {"threads": 0}, {"batch_rows": 0}, {"rounds": 0}]
)
def test_impossible_settings_are_refused_before_any_process_starts(matmul_model, bad):
    with pytest.raises(ValueError, match="must be >= 1"):
        rows_per_second(matmul_model, **bad)
