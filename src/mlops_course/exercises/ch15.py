"""Checks for chapter 15's exercises (three models in one process, a Triton entry)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from mlops_course import serialization, serving, triton
from mlops_course.exercises import Wrong, exercise, expect, expect_type

N_MODELS = 3  # the exercise adds a third model
INSTANCES = 2  # the exercise's CPU instances
DELAY_US = 1_000  # the exercise's queue delay (1 ms)


@exercise("ex-15-1")
def three_models(got, stats, *, models, rows) -> str:
    """Every answer of the three served models equals its in-process prediction."""
    expect_type(got, Sequence, "the list of probabilities the service answered")
    expect_type(stats, Mapping, "the batcher's stats (GET /batching's 'stats')")
    expect(
        len(models) == N_MODELS,
        f"models holds {len(models)} models: add the C=0.01 logistic regression as "
        "a third, served by the same process",
    )
    expect(
        len(got) == len(rows) * len(models),
        f"{len(got)} answers: send each of the {len(rows)} rows to each of the "
        f"{len(models)} models",
    )
    frame = serialization.as_model_input(rows)
    answers = np.asarray(got, dtype=float).reshape(len(models), len(rows))
    for (name, settings), answer in zip(models.items(), answers, strict=True):
        want = serving.OnnxEngine(Path(settings.onnx_path).read_bytes()).predict_proba(
            frame
        )
        gap = float(np.max(np.abs(answer - want)))
        expect(
            gap <= 1e-6,
            f"the answers for {name} differ from its own in-process prediction by up "
            f"to {gap:.3g}: post the rows to /models/{name}/predict, models in the "
            "order of `models`, and keep the answers in that order",
        )
    expect(
        stats.get("rows") == len(got),
        f"the batcher scored {stats.get('rows')} rows for {len(got)} answers: read "
        "/batching from the same server, after the requests",
    )
    return (
        "three models in one process, one batcher: every answer is its own "
        "model's prediction, and each row was scored once"
    )


@exercise("ex-15-2")
def mlp_entry(entry, *, mlp_path) -> str:
    """The Triton repository entry of the wide network: 2 CPU instances, 1 ms delay."""
    expect_type(entry, (str, Path), "the entry's folder in the model repository")
    entry = Path(entry)
    config_file, model_file = entry / "config.pbtxt", entry / "1" / "model.onnx"
    expect(config_file.is_file(), f"no config.pbtxt in {entry.name}/: write it there")
    expect(
        model_file.is_file(),
        f"no {entry.name}/1/model.onnx: Triton loads numbered version folders",
    )
    expect(
        model_file.read_bytes() == Path(mlp_path).read_bytes(),
        f"{entry.name}/1/model.onnx is not the wide network's ONNX file",
    )
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    try:
        config, problems = triton.check_config(config_file.read_text(), session)
    except text_format.ParseError as error:
        raise Wrong(f"config.pbtxt does not parse as a ModelConfig: {error}") from None
    expect(not problems, f"the check refuses the config: {problems}")
    expect(
        config.name == entry.name,
        f"the config names the model {config.name!r}, its folder is {entry.name!r}: "
        "Triton wants them equal",
    )
    counts = [g.count for g in config.instance_group]
    expect(
        counts == [INSTANCES],
        f"instance groups {counts}: the exercise asks for {INSTANCES} CPU instances",
    )
    delay = config.dynamic_batching.max_queue_delay_microseconds
    expect(
        delay == DELAY_US,
        f"a queue delay of {delay} µs: 1 ms is {DELAY_US} microseconds",
    )
    return (
        "a config Triton would load: names, types and shapes match the model, two "
        "CPU instances, a 1 ms queue delay, no preferred size"
    )
