"""Chapter 20's exercise checks, on right answers and on wrong ones."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from torch import nn
from torch.nn.utils import prune

from mlops_course.exercises import ch20

N_IN, WIDTH = 8, 256


def network_graph(scale_last: float = 1.0) -> onnx.ModelProto:
    """features [rows, 8] -> two ReLU layers of 256 -> P(repaid), P(default)."""
    rng = np.random.default_rng(0)
    weights = {
        "W1": rng.normal(scale=0.3, size=(N_IN, WIDTH)),
        "W2": rng.normal(scale=0.06, size=(WIDTH, WIDTH)),
        "W3": rng.normal(scale=0.06, size=(WIDTH, 1)) * scale_last,
        "one": np.ones((1, 1)),
    }
    nodes = [
        helper.make_node("MatMul", ["features", "W1"], ["a1"], name="layer1"),
        helper.make_node("Relu", ["a1"], ["h1"]),
        helper.make_node("MatMul", ["h1", "W2"], ["a2"], name="layer2"),
        helper.make_node("Relu", ["a2"], ["h2"]),
        helper.make_node("MatMul", ["h2", "W3"], ["logit"], name="layer3"),
        helper.make_node("Sigmoid", ["logit"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Concat", ["q", "p"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, N_IN])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        initializer=[
            numpy_helper.from_array(w.astype(np.float32), name=n)
            for n, w in weights.items()
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def quantization(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quant")
    float_path = folder / "float.onnx"
    onnx.save(network_graph(), float_path)
    features = np.random.default_rng(1).normal(size=(50, N_IN)).astype(np.float32)
    session = ort.InferenceSession(float_path, providers=["CPUExecutionProvider"])
    return {
        "folder": folder,
        "float_path": float_path,
        "features": features,
        "float_proba": session.run(None, {"features": features})[0][:, 1],
    }


def context(q):
    return {k: q[k] for k in ("float_path", "features", "float_proba")}


def test_per_channel_file_accepts_a_quantized_copy(quantization):
    path = quantization["folder"] / "per_channel.onnx"
    quantize_dynamic(
        quantization["float_path"], path, weight_type=QuantType.QInt8, per_channel=True
    )
    feedback = ch20.per_channel_file(path, **context(quantization))
    assert feedback.ok is True, feedback.message


def test_per_channel_file_refuses_the_float_model_itself(quantization):
    feedback = ch20.per_channel_file(
        quantization["float_path"], **context(quantization)
    )
    assert feedback.ok is False
    assert "its weights were not quantized" in feedback.message


def test_per_channel_file_refuses_a_file_that_is_mostly_float(quantization):
    path = quantization["folder"] / "big_layer_left_float.onnx"
    quantize_dynamic(
        quantization["float_path"],
        path,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=["layer2"],
    )
    feedback = ch20.per_channel_file(path, **context(quantization))
    assert feedback.ok is False
    assert "most of the file is still float" in feedback.message


def test_per_channel_file_refuses_probabilities_that_moved(quantization):
    other = quantization["folder"] / "other_float.onnx"
    onnx.save(network_graph(scale_last=8.0), other)
    path = quantization["folder"] / "other_int8.onnx"
    quantize_dynamic(other, path, weight_type=QuantType.QInt8)
    feedback = ch20.per_channel_file(path, **context(quantization))
    assert feedback.ok is False
    assert "check a quantized model's predictions" in feedback.message


def test_per_channel_file_names_a_missing_file(quantization, tmp_path):
    feedback = ch20.per_channel_file(tmp_path / "nowhere.onnx", **context(quantization))
    assert feedback.ok is False
    assert "did quantize_dynamic write it?" in feedback.message


# ----------------------------------------------------------------- ex-20-2
def stack(widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).eval()


@pytest.fixture(scope="module")
def original():
    torch.manual_seed(0)
    return stack([N_IN, 64, 64, 1])


FEATURES = np.random.default_rng(2).normal(size=(20, N_IN)).astype(np.float32)


def test_smaller_network_accepts_a_network_with_a_quarter_of_the_neurons(original):
    feedback = ch20.smaller_network(
        stack([N_IN, 16, 16, 1]),
        original=original,
        keep_fraction=0.25,
        features=FEATURES,
    )
    assert feedback.ok is True, feedback.message


def test_smaller_network_refuses_a_masked_network(original):
    masked = copy.deepcopy(original)
    for i in (0, 2):
        prune.ln_structured(masked[i], name="weight", amount=0.75, n=2, dim=0)
        prune.remove(masked[i], "weight")
    feedback = ch20.smaller_network(
        masked, original=original, keep_fraction=0.25, features=FEATURES
    )
    assert feedback.ok is False
    assert "that is a mask, not a smaller layer" in feedback.message


def test_smaller_network_refuses_too_many_neurons(original):
    feedback = ch20.smaller_network(
        stack([N_IN, 32, 16, 1]),
        original=original,
        keep_fraction=0.25,
        features=FEATURES,
    )
    assert feedback.ok is False
    assert "hidden layer 1 has 32 neurons" in feedback.message


def test_smaller_network_refuses_a_removed_layer(original):
    feedback = ch20.smaller_network(
        stack([N_IN, 16, 1]), original=original, keep_fraction=0.25, features=FEATURES
    )
    assert feedback.ok is False
    assert "remove neurons inside them" in feedback.message


def test_smaller_network_refuses_something_that_is_not_a_network(original):
    feedback = ch20.smaller_network(
        "quarter", original=original, keep_fraction=0.25, features=FEATURES
    )
    assert feedback.ok is False
    assert feedback.message == "expected a torch network (an nn.Module), got str"
