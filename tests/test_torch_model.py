"""The PyTorch network, its tensors, its ONNX graph and the DDP launcher (ch. 1, 14)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from mlops_course import data, ddp_train, serialization, torch_model
from mlops_course.serving.engines import OnnxEngine


@pytest.fixture(scope="module")
def tensors():
    return torch_model.make_tensors(3_000, seed=5)


@pytest.fixture(scope="module")
def trained(tensors):
    torch_model.configure_determinism(5)
    network = torch_model.make_network(tensors.n_inputs, seed=5)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    network.train()
    for _ in range(30):
        optimizer.zero_grad()
        loss_fn(network(tensors.x_train).squeeze(1), tensors.y_train).backward()
        optimizer.step()
    return network


def test_tensors_follow_the_time_split_and_the_training_preprocessor(tensors):
    split = data.time_split(data.generate_applications(3_000, seed=5))
    assert tensors.x_train.shape[0] == len(split.train)
    assert tensors.x_test.shape[0] == len(split.test)
    assert tensors.x_train.dtype == torch.float32
    assert not torch.isnan(tensors.x_valid).any()
    assert tensors.n_inputs == len(tensors.feature_names)
    # scaled on the training period only: its numeric columns have mean 0, std 1
    numeric = tensors.x_train[:, : len(data.NUMERIC_FEATURES)]
    assert torch.allclose(numeric.mean(0), torch.zeros(numeric.shape[1]), atol=1e-4)
    assert set(tensors.y_test.unique().tolist()) <= {0.0, 1.0}


def test_network_weights_depend_only_on_the_seed():
    a, b, c = (torch_model.make_network(7, seed=s) for s in (1, 1, 2))
    first = a.state_dict()["layers.0.weight"]
    assert torch.equal(first, b.state_dict()["layers.0.weight"])
    assert not torch.equal(first, c.state_dict()["layers.0.weight"])


def test_training_learns_something(tensors, trained):
    from sklearn.metrics import roc_auc_score

    proba = torch_model.predict_proba(trained, tensors.x_test)
    assert proba.shape == (tensors.x_test.shape[0],)
    assert proba.min() > 0 and proba.max() < 1
    assert roc_auc_score(tensors.y_test.numpy(), proba) > 0.65


def test_probability_wrapper_returns_both_classes(tensors, trained):
    wrapped = torch_model.WithProbabilities(trained).eval()
    with torch.no_grad():
        both = wrapped(tensors.x_test[:50])
    assert both.shape == (50, 2)
    assert torch.allclose(both.sum(1), torch.ones(50))
    p_default = torch_model.predict_proba(trained, tensors.x_test[:50])
    assert np.allclose(both[:, 1].numpy(), p_default, atol=1e-7)


def _export(network, n_inputs):
    with torch_model.quiet_onnx_export():
        return torch.onnx.export(
            torch_model.WithProbabilities(network).eval(),
            (torch.zeros(2, n_inputs),),
            dynamo=True,
            input_names=[torch_model.FEATURES_NAME],
            output_names=[torch_model.PROBA_OUTPUT],
            dynamic_shapes=({0: torch.export.Dim("rows")},),
            verbose=False,
        )


def test_onnx_graph_takes_raw_features_and_matches_pytorch(tensors, trained):
    program = _export(trained, tensors.n_inputs)
    assert isinstance(program, torch.onnx.ONNXProgram)
    network_onnx = program.model_proto
    assert [i.name for i in network_onnx.graph.input] == ["features"]
    assert [o.name for o in network_onnx.graph.output] == ["probabilities"]
    split = data.time_split(data.generate_applications(3_000, seed=5))
    rows = serialization.as_model_input(split.test)
    full = torch_model.with_preprocessing(network_onnx, tensors.preprocessor, rows)
    engine = OnnxEngine(full.SerializeToString())  # the service's contract
    assert sorted(engine.model.input_names) == sorted(data.FEATURES)
    onnx_proba = engine.predict_proba(rows)
    torch_proba = torch_model.predict_proba(trained, tensors.x_test)
    assert onnx_proba.shape == torch_proba.shape
    assert np.max(np.abs(onnx_proba - torch_proba)) < 1e-5


def test_preprocessing_goes_in_front_of_a_quantized_network(tensors, trained, tmp_path):
    """ORT's pre-processing declares every domain it knows (ai.onnx.ml at another
    version than skl2onnx's): the merge keeps only the domains the nodes use."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float_path, pre_path, int8_path = (tmp_path / f"{n}.onnx" for n in "fpq")
    _export(trained, tensors.n_inputs).save(float_path)
    quant_pre_process(float_path, pre_path)
    quantize_dynamic(pre_path, int8_path, weight_type=QuantType.QInt8)
    quantized = onnx.load(int8_path)
    assert "ai.onnx.ml" in {o.domain for o in quantized.opset_import}
    rows = serialization.as_model_input(
        data.time_split(data.generate_applications(3_000, seed=5)).test
    )
    full = torch_model.with_preprocessing(quantized, tensors.preprocessor, rows)
    assert "MatMulInteger" in {n.op_type for n in full.graph.node}
    proba = OnnxEngine(full.SerializeToString()).predict_proba(rows)
    torch_proba = torch_model.predict_proba(trained, tensors.x_test)
    assert 0 < np.max(np.abs(proba - torch_proba)) < 0.05  # int8: close, not equal


def test_quiet_export_shows_no_warning_and_restores_logging(recwarn, caplog):
    import logging

    network = torch_model.make_network(4, seed=1)
    level = logging.getLogger("torch.onnx").level
    with caplog.at_level(logging.WARNING):
        _export(network, 4)
    assert [r for r in caplog.records if r.name.startswith("torch.onnx")] == []
    assert [str(w.message) for w in recwarn] == []
    assert logging.getLogger("torch.onnx").level == level


def test_config_round_trips_through_the_command_line(tmp_path, capsys):
    config = ddp_train.Config(out=str(tmp_path / "r.pt"), n_rows=500, lr=0.01)
    assert ddp_train.parse_config(config.to_args()) == config
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        ddp_train.parse_config(["--epochs=2"])  # --out is required
    assert refused.value.code == 2  # argparse's usage error, not a crash or success
    assert "the following arguments are required: --out" in capsys.readouterr().err


@pytest.mark.slow
def test_two_ranks_match_one_rank_and_a_failure_leaves_no_process(tmp_path):
    """2 ranks x batch/2 (torchrun, mp.spawn) end where 1 rank x batch does."""
    small = {"n_rows": 2_000, "epochs": 3, "batch_size": 64}
    one = ddp_train.run_torchrun(
        1, ddp_train.Config(out=str(tmp_path / "1.pt"), **small)
    )
    two = ddp_train.run_torchrun(
        2, ddp_train.Config(out=str(tmp_path / "2.pt"), **small)
    )
    assert two["world_size"] == 2
    for name, weight in one["state_dict"].items():
        assert torch.allclose(weight, two["state_dict"][name], atol=1e-5)
    assert np.allclose(one["losses"], two["losses"], atol=1e-5)
    # torch.multiprocessing.spawn runs the same training function
    spawned = ddp_train.spawn(ddp_train.Config(out=str(tmp_path / "s.pt"), **small))
    for name, weight in two["state_dict"].items():
        assert torch.allclose(weight, spawned["state_dict"][name], atol=1e-6)
    # an impossible batch split fails on every rank: a clear error, no survivors
    bad = ddp_train.Config(
        out=str(tmp_path / "bad.pt"),
        batch_size=63,
        **{k: v for k, v in small.items() if k != "batch_size"},
    )
    with pytest.raises(RuntimeError, match="batch size 63"):
        ddp_train.run_torchrun(2, bad)
    assert not (tmp_path / "bad.pt").exists()


@pytest.mark.slow
def test_a_hung_run_is_stopped_at_the_timeout(tmp_path):
    config = ddp_train.Config(out=str(tmp_path / "r.pt"), n_rows=200_000, epochs=50)
    with pytest.raises(RuntimeError, match="did not finish within 3 s"):
        ddp_train.run_torchrun(2, config, timeout=3)
    # every process started for the run is gone (no rank still training)
    leftovers = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and f"--out={config.out}" in _cmdline(pid)
    ]
    for pid in leftovers:  # pragma: no cover - only on failure, to not leak
        os.kill(int(pid), signal.SIGKILL)
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
