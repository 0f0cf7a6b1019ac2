"""The credit-default model as a small PyTorch network (chapters 1 part 2, 14, 20, 22).

Chapter 1's PyTorch part trains :class:`CreditNet` on the tensors
:func:`prepare_tensors` makes (chapter 1's own preprocessor, fitted on the
training period), and ships it as ONNX for the Phase 1 service;
chapter 14 trains the same network with DistributedDataParallel
(:mod:`mlops_course.ddp_train`).

ONNX: the served graph takes the service's raw inputs (one ``[None, 1]`` input
per feature: ``float`` numbers, ``string`` categories) and returns
``probabilities`` ``[n, 2]``, the contract of
:class:`mlops_course.serving.engines.OnnxEngine`. The chapter exports
:class:`WithProbabilities` (the network plus its two-column output) with
``torch.onnx.export(..., dynamo=True)``; :func:`with_preprocessing` puts the
fitted scikit-learn preprocessor, converted by skl2onnx, in front with
``onnx.compose.merge_models``; chapter 20 puts it in front of quantized networks.

Importing this module imports torch; the rest of the package does not. It
imports pandas and scikit-learn only when it makes tensors, so a training
script that only builds the network (chapter 14's ranks) loads torch alone.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    import pandas as pd

    from mlops_course import data

#: The names of the network's input and output in its ONNX graph.
FEATURES_NAME = "features"
PROBA_OUTPUT = "probabilities"
#: The ONNX-ML opset of the preprocessor's graph (as in chapter 4's conversions).
ML_OPSET = 3


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
    from mlops_course import modeling

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
    from mlops_course import data

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
class WithProbabilities(nn.Module):
    """Wrap a logit network: ``[rows, 2]`` (P(repaid), P(default)) per row."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The two class probabilities, the service's ``probabilities`` output."""
        p_default = torch.sigmoid(self.network(x)).squeeze(1)
        return torch.stack([1 - p_default, p_default], dim=1)


@contextlib.contextmanager
def quiet_onnx_export() -> Iterator[None]:
    """Hide two messages torch 2.13's ONNX exporter emits from its own code.

    Its operator registry logs a warning for each torchvision operator it skips
    when torchvision is not installed (it is not: no vision model here), and
    ``torch.export`` deep-copies a deprecated pytree ``LeafSpec``, which raises a
    FutureWarning no argument of the call avoids. Only the ``torch.onnx`` loggers'
    warnings and that one FutureWarning message are hidden, only inside the block.
    """
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                category=FutureWarning,
            )
            yield
    finally:
        onnx_logger.setLevel(level)


def with_preprocessing(
    network_onnx: Any, preprocessor: Any, sample: pd.DataFrame
) -> Any:
    """Put the fitted preprocessor (via skl2onnx) in front: raw feature inputs.

    ``network_onnx`` is the exporter's ``ModelProto`` with one input
    ``features`` and the output ``probabilities``; the preprocessor's graph is
    brought to the network's opset so that the two can be merged.
    """
    import onnx
    from skl2onnx import convert_sklearn

    from mlops_course.serialization import onnx_input_types

    (network_input,) = [i.name for i in network_onnx.graph.input]
    (opset,) = [o.version for o in network_onnx.opset_import if o.domain == ""]
    prep = convert_sklearn(
        preprocessor,
        name="preprocessor",
        initial_types=onnx_input_types(sample),
        target_opset={"": opset, "ai.onnx.ml": ML_OPSET},
    )
    # skl2onnx declares the lowest opset its operators need; merge_models wants
    # the network's, so ONNX's version converter lifts the preprocessor to it.
    prep = onnx.version_converter.convert_version(prep, opset)
    (prep_output,) = [o.name for o in prep.graph.output]
    network_onnx = onnx.ModelProto.FromString(network_onnx.SerializeToString())
    # A graph ONNX Runtime has rewritten (chapter 20's quantization pre-processing)
    # declares every domain it knows, ai.onnx.ml at another version than the
    # preprocessor's among them; only the domains its nodes use are kept.
    used = {"", *(node.domain for node in network_onnx.graph.node)}
    kept = [o for o in network_onnx.opset_import if o.domain in used]
    del network_onnx.opset_import[:]
    network_onnx.opset_import.extend(kept)
    network_onnx.ir_version = prep.ir_version = max(
        prep.ir_version, network_onnx.ir_version
    )
    merged = onnx.compose.merge_models(
        prep, network_onnx, io_map=[(prep_output, network_input)]
    )
    onnx.checker.check_model(merged)
    return merged
