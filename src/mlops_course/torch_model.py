"""The credit-default model as a small PyTorch network (chapters 1 part 2 and 14).

Chapter 1's PyTorch part trains :class:`CreditNet` on the tensors
:func:`prepare_tensors` makes (chapter 1's own preprocessor, fitted on the
training period), and ships it as ONNX for the Phase 1 service;
chapter 14 trains the same network with DistributedDataParallel
(:mod:`mlops_course.ddp_train`).

ONNX: the exported graph takes the service's raw inputs (one ``[None, 1]`` input
per feature: ``float`` numbers, ``string`` categories) and returns
``probabilities`` ``[n, 2]``, the contract of
:class:`mlops_course.serving.engines.OnnxEngine`. It is two graphs merged with
``onnx.compose.merge_models``: the fitted scikit-learn preprocessor converted by
skl2onnx, then the network. The network's graph is captured with
``torch.export.export`` and its few ATen operators (``linear``, ``relu``,
``sigmoid``) are written as ONNX nodes by :func:`exported_to_onnx`: what
``torch.onnx.export(..., dynamo=True)`` does for this network, without the
``onnxscript`` package that exporter needs and the course's lock lacks.

Importing this module imports torch; the rest of the package does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mlops_course import data, modeling

#: Where the network's input and logit are called in its ONNX graph.
FEATURES_NAME = "features"
PROBA_OUTPUT = "probabilities"
#: The default ONNX opsets (the same as :mod:`mlops_course.serialization`).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def configure_determinism(seed: int, *, threads: int = 1) -> None:
    """Seed torch, refuse nondeterministic kernels, and use ``threads`` CPU threads."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class TensorSplit:
    """Chapter 1's time split as float32 tensors, and the fitted preprocessor."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    preprocessor: Any
    feature_names: list[str]

    @property
    def n_inputs(self) -> int:
        """Width of the network's input (numbers plus one-hot columns)."""
        return self.x_train.shape[1]


def _to_tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def prepare_tensors(split: data.Split) -> TensorSplit:
    """Fit chapter 1's preprocessor on the training period; transform every part."""
    x_train, y_train = modeling.features_and_target(split.train)
    preprocessor = modeling.make_preprocessor().fit(x_train)
    parts = {}
    for name, frame in split._asdict().items():
        x, y = modeling.features_and_target(frame)
        parts[f"x_{name}"] = _to_tensor(preprocessor.transform(x))
        parts[f"y_{name}"] = _to_tensor(y.to_numpy())
    return TensorSplit(
        **parts,
        preprocessor=preprocessor,
        feature_names=[str(n) for n in preprocessor.get_feature_names_out()],
    )


def make_tensors(n_rows: int, seed: int) -> TensorSplit:
    """Generate ``n_rows`` applications, split them by time, make the tensors."""
    applications = data.generate_applications(n_rows, seed=seed)
    return prepare_tensors(data.time_split(applications))


class CreditNet(nn.Module):
    """One hidden ReLU layer; returns one logit (log-odds of default) per row."""

    def __init__(self, n_inputs: int, hidden: int = 16) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``[rows, 1]``."""
        return self.layers(x)


def make_network(n_inputs: int, *, hidden: int = 16, seed: int = 0) -> CreditNet:
    """A :class:`CreditNet` whose initial weights depend only on ``seed``."""
    torch.manual_seed(seed)
    return CreditNet(n_inputs, hidden)


def predict_proba(network: nn.Module, x: torch.Tensor) -> np.ndarray:
    """P(default) per row, in evaluation mode and without building a graph."""
    network.eval()
    with torch.no_grad():
        return torch.sigmoid(network(x)).squeeze(1).double().numpy()


# ------------------------------------------------------------------------------ ONNX
def export_network(network: nn.Module, n_inputs: int) -> torch.export.ExportedProgram:
    """``torch.export.export`` of the network in eval mode, for any number of rows."""
    network.eval()
    example = (torch.zeros(2, n_inputs),)
    rows = torch.export.Dim("rows")
    return torch.export.export(network, example, dynamic_shapes=({0: rows},))


_ONNX_OPS = {
    "aten.linear.default": ("Gemm", {"transB": 1}),
    "aten.relu.default": ("Relu", {}),
    "aten.sigmoid.default": ("Sigmoid", {}),
}


def exported_to_onnx(
    exported: torch.export.ExportedProgram, *, opset: int = TARGET_OPSET[""]
) -> Any:
    """Translate an exported network (linear, relu, sigmoid) into an ONNX model.

    One input ``features`` ``[rows, n]``; one output ``probabilities``
    ``[rows, 2]`` (P(repaid), P(default)), computed from the network's logit.
    Any other ATen operator raises ``ValueError`` naming it.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    signature = exported.graph_signature
    if len(signature.user_inputs) != 1:
        raise ValueError(f"expected one tensor input, got {signature.user_inputs}")
    nodes, initializers, names, n_inputs = [], [], {}, None
    for node in exported.graph.nodes:
        if node.op == "placeholder":
            parameter = signature.inputs_to_parameters.get(node.name)
            if parameter is None:
                names[node.name] = FEATURES_NAME
                continue
            names[node.name] = f"net_{node.name}"
            array = exported.state_dict[parameter].detach().numpy()
            initializers.append(numpy_helper.from_array(array, names[node.name]))
        elif node.op == "call_function":
            if str(node.target) not in _ONNX_OPS:
                raise ValueError(f"no ONNX translation for {node.target} here")
            op_type, attributes = _ONNX_OPS[str(node.target)]
            if op_type == "Gemm" and n_inputs is None:
                n_inputs = exported.state_dict[
                    signature.inputs_to_parameters[node.args[1].name]
                ].shape[1]
            names[node.name] = f"net_{node.name}"
            inputs = [names[arg.name] for arg in node.args]
            nodes.append(
                helper.make_node(op_type, inputs, [names[node.name]], **attributes)
            )
        elif node.op == "output":
            (logit,) = node.args[0]
    if n_inputs is None:
        raise ValueError("the exported graph has no linear layer")
    nodes += [
        helper.make_node("Sigmoid", [names[logit.name]], ["net_p_default"]),
        helper.make_node("Sub", ["net_one", "net_p_default"], ["net_p_repaid"]),
        helper.make_node(
            "Concat", ["net_p_repaid", "net_p_default"], [PROBA_OUTPUT], axis=1
        ),
    ]
    initializers.append(numpy_helper.from_array(np.ones(1, np.float32), "net_one"))
    graph = helper.make_graph(
        nodes,
        "credit_net",
        [
            helper.make_tensor_value_info(
                FEATURES_NAME, TensorProto.FLOAT, [None, n_inputs]
            )
        ],
        [helper.make_tensor_value_info(PROBA_OUTPUT, TensorProto.FLOAT, [None, 2])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def with_preprocessing(
    network_onnx: Any, preprocessor: Any, sample: pd.DataFrame
) -> Any:
    """Put the fitted preprocessor (via skl2onnx) in front: raw feature inputs."""
    import onnx
    from skl2onnx import convert_sklearn

    from mlops_course.serialization import _initial_types

    prep = convert_sklearn(
        preprocessor,
        name="preprocessor",
        initial_types=_initial_types(sample),
        target_opset=TARGET_OPSET,
    )
    (prep_output,) = [o.name for o in prep.graph.output]
    network_onnx = onnx.ModelProto.FromString(network_onnx.SerializeToString())
    network_onnx.ir_version = prep.ir_version
    # Gemm, Relu, Sigmoid, Sub and Concat read the same in every opset since 11:
    # take the preprocessor's opsets so that the two graphs can be merged.
    del network_onnx.opset_import[:]
    network_onnx.opset_import.extend(prep.opset_import)
    merged = onnx.compose.merge_models(
        prep, network_onnx, io_map=[(prep_output, FEATURES_NAME)]
    )
    onnx.checker.check_model(merged)
    return merged
