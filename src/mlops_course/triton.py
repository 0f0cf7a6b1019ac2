"""Triton Inference Server's model configuration, checked without Triton (chapter 15).

A ``config.pbtxt`` is a ``ModelConfig`` message of Triton's ``model_config.proto``
in protobuf text format. Triton's Python client is not in the course's
environment, so :func:`model_config_class` declares the part of that schema the
course uses (same message, field and enum names and numbers, from
https://github.com/triton-inference-server/common/blob/main/protobuf/model_config.proto)
with protobuf's own descriptor API; ``text_format.Parse`` then refuses a misspelt
field or enum value, as Triton's parser refuses them. It is the course's subset,
not Triton: a valid field outside the subset is refused here, and Triton checks
more when it loads a model (backend rules, instances, the model file). For ONNX
models Triton can also auto-complete a missing or partial configuration from
the model itself. :func:`check_config` also compares the declared tensors with
the ONNX Runtime session of the model.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
)
from google.protobuf.message import Message

#: ONNX Runtime's tensor types and Triton's data types for them.
ONNX_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(string)": "TYPE_STRING",
    "tensor(int64)": "TYPE_INT64",
    "tensor(double)": "TYPE_FP64",
}


@functools.cache
def model_config_class() -> type[Message]:
    """Triton's ``ModelConfig`` message class (the subset this course uses)."""
    return _model_config_class()


def _model_config_class() -> type[Message]:
    """ModelConfig, the subset of Triton's model_config.proto this chapter uses."""
    f = descriptor_pb2.FileDescriptorProto(
        name="model_config_subset.proto", package="inference", syntax="proto3"
    )
    types = [
        "TYPE_INVALID",
        "TYPE_BOOL",
        "TYPE_UINT8",
        "TYPE_UINT16",
        "TYPE_UINT32",
        "TYPE_UINT64",
        "TYPE_INT8",
        "TYPE_INT16",
        "TYPE_INT32",
        "TYPE_INT64",
        "TYPE_FP16",
        "TYPE_FP32",
        "TYPE_FP64",
        "TYPE_STRING",
        "TYPE_BF16",
    ]
    enum = f.enum_type.add(name="DataType")
    for number, value in enumerate(types):
        enum.value.add(name=value, number=number)
    F = descriptor_pb2.FieldDescriptorProto
    many, one = F.LABEL_REPEATED, F.LABEL_OPTIONAL

    def message(name, fields):
        m = f.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            m.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=label,
                type_name=type_name,
            )
        return m

    message("ModelTensorReshape", [("shape", 1, F.TYPE_INT64, many, None)])
    tensor = [
        ("name", 1, F.TYPE_STRING, one, None),
        ("data_type", 2, F.TYPE_ENUM, one, ".inference.DataType"),
    ]
    message(
        "ModelInput",
        tensor
        + [
            ("dims", 4, F.TYPE_INT64, many, None),
            ("reshape", 5, F.TYPE_MESSAGE, one, ".inference.ModelTensorReshape"),
        ],
    )
    message(
        "ModelOutput",
        tensor
        + [
            ("dims", 3, F.TYPE_INT64, many, None),
            ("reshape", 5, F.TYPE_MESSAGE, one, ".inference.ModelTensorReshape"),
        ],
    )
    message(
        "ModelDynamicBatching",
        [
            ("preferred_batch_size", 1, F.TYPE_INT32, many, None),
            ("max_queue_delay_microseconds", 2, F.TYPE_UINT64, one, None),
        ],
    )
    group = message(
        "ModelInstanceGroup",
        [
            ("name", 1, F.TYPE_STRING, one, None),
            ("count", 2, F.TYPE_INT32, one, None),
            ("kind", 4, F.TYPE_ENUM, one, ".inference.ModelInstanceGroup.Kind"),
        ],
    )
    kinds = group.enum_type.add(name="Kind")
    for number, value in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]):
        kinds.value.add(name=value, number=number)
    message(
        "ModelConfig",
        [
            ("name", 1, F.TYPE_STRING, one, None),
            ("platform", 2, F.TYPE_STRING, one, None),
            ("max_batch_size", 4, F.TYPE_INT32, one, None),
            ("input", 5, F.TYPE_MESSAGE, many, ".inference.ModelInput"),
            ("output", 6, F.TYPE_MESSAGE, many, ".inference.ModelOutput"),
            (
                "instance_group",
                7,
                F.TYPE_MESSAGE,
                many,
                ".inference.ModelInstanceGroup",
            ),
            (
                "dynamic_batching",
                11,
                F.TYPE_MESSAGE,
                one,
                ".inference.ModelDynamicBatching",
            ),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("inference.ModelConfig")
    )


def check_config(text: str, session: Any) -> tuple[Message, list[str]]:
    """Parse ``text`` as a ModelConfig; list every disagreement with ``session``.

    ``session`` is the ``onnxruntime.InferenceSession`` of the model the config
    serves. A misspelt field or enum value raises ``text_format.ParseError``.
    """
    ModelConfig = model_config_class()
    config = text_format.Parse(text, ModelConfig())
    problems = []
    if config.platform != "onnxruntime_onnx":
        problems.append(f"platform {config.platform!r}")
    if config.max_batch_size < 1 or not config.HasField("dynamic_batching"):
        problems.append("no batching")
    preferred = config.dynamic_batching.preferred_batch_size
    if any(size > config.max_batch_size for size in preferred):
        problems.append("a preferred batch size exceeds max_batch_size")
    for block, tensors in [
        (config.input, session.get_inputs()),
        (config.output, session.get_outputs()),
    ]:
        declared = {entry.name: entry for entry in block}
        if set(declared) != {t.name for t in tensors}:
            problems.append(
                f"names differ: {sorted(set(declared) ^ {t.name for t in tensors})}"
            )
        for t in tensors:
            entry = declared.get(t.name)
            if entry is None:
                continue
            data_type = (
                ModelConfig.DESCRIPTOR.file.pool.FindEnumTypeByName(
                    "inference.DataType"
                )
                .values_by_number[entry.data_type]
                .name
            )
            if data_type != ONNX_TO_TRITON[t.type]:
                problems.append(f"{t.name}: {data_type} but the model has {t.type}")
            shape = (
                list(entry.reshape.shape)
                if entry.HasField("reshape")
                else list(entry.dims)
            )
            if shape != list(t.shape[1:]):
                problems.append(
                    f"{t.name}: dims {shape} but the model has {t.shape[1:]}"
                )
    return config, problems
