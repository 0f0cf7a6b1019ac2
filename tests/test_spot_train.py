"""SIGTERM mid-run, then resume: the same weights as an uninterrupted run (ch. 22)."""

from __future__ import annotations

import signal

import pytest
import torch

from mlops_course import checkpointing, spot_train, torch_model

pytestmark = pytest.mark.slow  # each test starts Python processes that import torch


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    tensors = torch_model.make_tensors(2_000, seed=3)
    path = tmp_path_factory.mktemp("spot") / "train.pt"
    torch.save((tensors.x_train, tensors.y_train), path)
    return path


def config(folder, train_file, name, **changes):
    settings = {
        "out": str(folder / f"{name}.pt"),
        "data": str(train_file),
        "seed": 3,
        "epochs": 4,
        "batch_size": 64,
        "checkpoint_every": 5,
        "step_seconds": 0.01,
    }
    return spot_train.Config(**{**settings, **changes})


@pytest.fixture(scope="module")
def reference(tmp_path_factory, train_file):
    """An uninterrupted run's result."""
    cfg = config(tmp_path_factory.mktemp("reference"), train_file, "reference")
    assert run(cfg)[0] == 0
    return torch.load(cfg.out, weights_only=True)


def run(cfg, *, sigterm_after: str | None = None) -> tuple[int, list[str]]:
    with spot_train.launched(cfg) as child:
        lines = []
        for line in child.stdout:
            lines.append(line.strip())
            if sigterm_after and line.startswith(sigterm_after):
                child.send_signal(signal.SIGTERM)
                break
        lines += child.stdout.read().splitlines()
        return child.wait(timeout=120), lines


def test_sigterm_mid_run_then_resume_gives_the_uninterrupted_weights(
    tmp_path, train_file, reference
):
    spot = config(tmp_path, train_file, "spot")
    status, lines = run(spot, sigterm_after="checkpoint: epoch 1")
    assert status == checkpointing.PREEMPTED_EXIT, lines
    assert lines[-1].startswith("preempted: saved epoch")
    assert not (tmp_path / "spot.pt").exists()
    state = checkpointing.load(spot.checkpoint_path)
    assert (state["epoch"], state["step"]) >= (1, 5)
    assert {"model", "optimizer", "rng", "epoch_shuffle"} <= set(state)
    assert run(spot)[0] == 0  # the same command resumes
    a = reference
    b = torch.load(spot.out, weights_only=True)
    assert b["resumed_at"] == [state["epoch"], state["step"]]
    assert a["resumed_at"] == [0, 0]
    assert all(
        torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"]
    )
    assert a["losses"] == b["losses"]


def test_a_checkpoint_from_another_run_changes_the_result(
    tmp_path, train_file, reference
):
    """The comparison above can fail: resuming another seed's state differs."""
    other = config(tmp_path, train_file, "other", seed=4)
    run(other, sigterm_after="checkpoint: epoch 1")
    mixed = config(tmp_path, train_file, "mixed", checkpoint=str(other.checkpoint_path))
    assert run(mixed)[0] == 0
    a = reference["state_dict"]
    b = torch.load(mixed.out, weights_only=True)["state_dict"]
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_config_flags_round_trip_through_the_command_line(tmp_path, train_file):
    cfg = config(tmp_path, train_file, "flags", checkpoint="x.ckpt")
    assert spot_train.parse_config(cfg.to_args()) == cfg
    assert cfg.checkpoint_path.name == "x.ckpt"
    assert config(tmp_path, train_file, "y").checkpoint_path.name == "y.ckpt"
