"""Checks for chapter 20's exercises (quantization and structured pruning)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from mlops_course.exercises import exercise, expect, expect_type

#: Operators through which ONNX Runtime runs a dynamically quantized MatMul.
INTEGER_MATMULS = {"MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}
#: How far a quantized model's P(default) may move from the float model's.
MAX_SHIFT = 0.05


@exercise("ex-20-1")
def per_channel_file(path, *, float_path, features, float_proba) -> str:
    """A dynamically quantized copy of the float network, checked before use."""
    import onnx
    import onnxruntime as ort

    expect_type(path, (str, os.PathLike), "the path of the quantized .onnx file")
    path = Path(path)
    expect(path.is_file(), f"no file at {path.name}: did quantize_dynamic write it?")
    model = onnx.load(path)
    ops = {node.op_type for node in model.graph.node}
    expect(
        bool(ops & INTEGER_MATMULS),
        "the graph has no integer MatMul ("
        + ", ".join(sorted(INTEGER_MATMULS))
        + "): its weights were not quantized",
    )
    ratio = path.stat().st_size / Path(float_path).stat().st_size
    expect(
        ratio < 0.5,
        f"the file is {ratio:.0%} of the float model's size: int8 weights take a "
        "quarter of float32's bytes, so most of the file is still float",
    )
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    proba = session.run(None, {model_input.name: features})[0][:, 1]
    shift = float(np.max(np.abs(proba - np.asarray(float_proba))))
    expect(
        shift <= MAX_SHIFT,
        f"P(default) moves by up to {shift:.3f} from the float model's on the test "
        "rows: check a quantized model's predictions before serving it",
    )
    return (
        "a smaller file whose MatMuls run on int8 weights, and whose probabilities "
        "stay close to the float model's on the test rows"
    )


@exercise("ex-20-2")
def smaller_network(network, *, original, keep_fraction, features) -> str:
    """A network rebuilt without pruned neurons: smaller layers, not masked ones."""
    import torch
    from torch import nn

    expect_type(network, nn.Module, "a torch network (an nn.Module)")
    linears = [m for m in network.modules() if isinstance(m, nn.Linear)]
    before = [m for m in original.modules() if isinstance(m, nn.Linear)]
    expect(
        len(linears) == len(before),
        f"{len(linears)} Linear layers, not {len(before)}: keep the network's "
        "layers and remove neurons inside them",
    )
    expect(
        linears[0].in_features == before[0].in_features
        and linears[-1].out_features == before[-1].out_features,
        "the inputs and the output must stay as they were: only hidden neurons go",
    )
    for i, (layer, old) in enumerate(zip(linears[:-1], before[:-1], strict=True)):
        allowed = math.ceil(keep_fraction * old.out_features)
        zero_rows = int((layer.weight.detach().abs().sum(dim=1) == 0).sum())
        expect(
            zero_rows == 0,
            f"hidden layer {i + 1} still holds {zero_rows} neurons whose weights are "
            "all zero: that is a mask, not a smaller layer; build a smaller Linear",
        )
        expect(
            layer.out_features <= allowed,
            f"hidden layer {i + 1} has {layer.out_features} neurons; keeping "
            f"{keep_fraction:.0%} of {old.out_features} leaves at most {allowed}",
        )
    count = sum(p.numel() for p in network.parameters())
    expect(
        count < sum(p.numel() for p in original.parameters()),
        "the network has no fewer parameters than the original",
    )
    network.eval()
    with torch.no_grad():
        out = network(torch.as_tensor(features))
    expect(
        tuple(out.shape) == (len(features), 1) and bool(torch.isfinite(out).all()),
        f"the network gives {tuple(out.shape)} outputs, not one finite logit per row",
    )
    return (
        "whole neurons removed: every hidden Linear layer is smaller, no row of "
        "zeros is left, and the network still gives one logit per applicant"
    )
