"""Chapter 15's exercise checks, on a right answer and on wrong ones."""

import pytest

from mlops_course import data, serialization, serving
from mlops_course.exercises import ch15
from tests.serving_helpers import two_onnx_models


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    split = data.time_split(data.generate_applications(1_500, seed=15))
    paths = two_onnx_models(folder, split.train)
    third = folder / "third.onnx"
    third.write_bytes(paths["small"].read_bytes())
    paths["third"] = third
    models = {name: serving.Settings(onnx_path=p) for name, p in paths.items()}
    rows = split.test.iloc[:10]
    frame = serialization.as_model_input(rows)
    got = [
        float(p)
        for path in paths.values()
        for p in serving.OnnxEngine(path.read_bytes()).predict_proba(frame)
    ]
    return {"models": models, "rows": rows, "got": got, "paths": paths}


def test_three_models_accepts_each_model_s_own_answers(served):
    stats = {"rows": 30, "batches": 3}
    fb = ch15.three_models(
        served["got"], stats, models=served["models"], rows=served["rows"]
    )
    assert fb.ok is True, fb.message


def test_three_models_refuses_answers_of_the_wrong_model(served):
    got = served["got"][10:20] + served["got"][:10] + served["got"][20:]
    fb = ch15.three_models(
        got, {"rows": 30}, models=served["models"], rows=served["rows"]
    )
    assert fb.ok is False
    assert fb.message.startswith("the answers for small differ from its own")


def test_three_models_refuses_two_models_and_rows_scored_twice(served):
    two = dict(list(served["models"].items())[:2])
    fb = ch15.three_models(
        served["got"][:20], {"rows": 20}, models=two, rows=served["rows"]
    )
    assert "add the C=0.01 logistic regression as a third" in fb.message
    fb = ch15.three_models(
        served["got"], {"rows": 40}, models=served["models"], rows=served["rows"]
    )
    assert fb.message.startswith("the batcher scored 40 rows for 30 answers")


def tensor_entry(tensor):
    """One input or output block of config.pbtxt (as the chapter writes it)."""
    from mlops_course import triton

    dims = list(tensor.shape[1:])
    lines = [
        f'    name: "{tensor.name}"',
        f"    data_type: {triton.ONNX_TO_TRITON[tensor.type]}",
    ]
    if dims:
        lines.append(f"    dims: [ {', '.join(str(d) for d in dims)} ]")
    else:
        lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
    return "  {\n" + "\n".join(lines) + "\n  }"


def entry_for(folder, model, *, instances=2, delay_us=1_000, preferred=""):
    """A repository entry for ``model``, written from its ONNX Runtime session."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    entry = folder / "credit_default_mlp"
    (entry / "1").mkdir(parents=True)
    (entry / "1" / "model.onnx").write_bytes(model.read_bytes())
    inputs = ",\n".join(tensor_entry(t) for t in session.get_inputs())
    outputs = ",\n".join(tensor_entry(t) for t in session.get_outputs())
    (entry / "config.pbtxt").write_text(
        f"""name: "credit_default_mlp"
platform: "onnxruntime_onnx"
max_batch_size: 64
input [
{inputs}
]
output [
{outputs}
]
dynamic_batching {{{preferred}
  max_queue_delay_microseconds: {delay_us}
}}
instance_group [ {{ count: {instances} kind: KIND_CPU }} ]
"""
    )
    return entry


def test_mlp_entry_accepts_two_instances_and_a_1_ms_delay(served, tmp_path):
    model = served["paths"]["large"]
    fb = ch15.mlp_entry(entry_for(tmp_path, model), mlp_path=model)
    assert fb.ok is True, fb.message


def test_mlp_entry_refuses_a_preferred_size_above_the_maximum(served, tmp_path):
    model = served["paths"]["large"]
    entry = entry_for(tmp_path, model, preferred="\n  preferred_batch_size: [ 128 ]")
    fb = ch15.mlp_entry(entry, mlp_path=model)
    assert fb.ok is False
    assert "a preferred batch size exceeds max_batch_size" in fb.message


def test_mlp_entry_refuses_the_defaults_and_another_model(served, tmp_path):
    model = served["paths"]["large"]
    fb = ch15.mlp_entry(entry_for(tmp_path / "a", model, instances=1), mlp_path=model)
    assert fb.message.startswith("instance groups [1]: the exercise asks for 2")
    fb = ch15.mlp_entry(entry_for(tmp_path / "b", model, delay_us=500), mlp_path=model)
    assert fb.message == "a queue delay of 500 µs: 1 ms is 1000 microseconds"
    other = served["paths"]["small"]
    fb = ch15.mlp_entry(entry_for(tmp_path / "c", other), mlp_path=model)
    assert "is not the wide network's ONNX file" in fb.message
