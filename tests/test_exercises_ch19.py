"""Chapter 19's exercise checks, on right answers and on wrong ones."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch

from mlops_course.exercises import ch19
from tests.test_crd_checks import trainjob

METRICS = pd.DataFrame({"epoch": [0, 1, 2, 3], "val_loss": [0.5, 0.4, 0.45, 0.47]})


@pytest.fixture()
def storage(tmp_path):
    root = tmp_path / "ray_results"
    for epoch in METRICS["epoch"]:
        folder = root / "killed" / f"checkpoint_{epoch}"
        folder.mkdir(parents=True)
        torch.save({"epoch": epoch}, folder / "state.pt")
    return root


def test_best_checkpoint_accepts_the_lowest_validation_loss(storage):
    best = storage / "killed" / "checkpoint_1"
    fb = ch19.best_checkpoint(best, metrics=METRICS, storage=storage)
    assert fb.ok is True, fb.message


def test_best_checkpoint_refuses_the_latest(storage):
    latest = storage / "killed" / "checkpoint_3"
    fb = ch19.best_checkpoint(latest, metrics=METRICS, storage=storage)
    assert fb.ok is False
    assert "from epoch 3" in fb.message and "not the latest" in fb.message


def test_best_checkpoint_refuses_a_copy_outside_storage(storage, tmp_path):
    local = tmp_path / "node-tmp" / "ckpt"
    local.mkdir(parents=True)
    torch.save({"epoch": 1}, local / "state.pt")
    fb = ch19.best_checkpoint(local, metrics=METRICS, storage=storage)
    assert fb.ok is False and "lost with the worker" in fb.message
    assert ch19.best_checkpoint(42, metrics=METRICS, storage=storage).ok is False


def bigger() -> dict:
    job = copy.deepcopy(trainjob())
    job["metadata"]["labels"] = {ch19.QUEUE_LABEL: "team-credit-gpu"}
    job["spec"]["trainer"] |= {"numNodes": 4, "numProcPerNode": 2}
    job["spec"]["trainer"]["resourcesPerNode"]["limits"][ch19.GPU] = 2
    return job


CONTEXT = {"nodes": 4, "gpus_per_node": 2, "queue": "team-credit-gpu"}


def test_gpu_trainjob_accepts_four_nodes_of_two_gpus():
    fb = ch19.gpu_trainjob(bigger(), **CONTEXT)
    assert fb.ok is True, fb.message


def test_gpu_trainjob_refuses_idle_gpus_and_a_missing_queue():
    idle = bigger()
    idle["spec"]["trainer"]["numProcPerNode"] = 1
    assert "GPUs sit idle" in ch19.gpu_trainjob(idle, **CONTEXT).message
    unqueued = bigger()
    unqueued["metadata"]["labels"] = {}
    assert "Kueue admits" in ch19.gpu_trainjob(unqueued, **CONTEXT).message


def test_gpu_trainjob_refuses_what_the_api_server_refuses():
    typo = bigger()
    typo["spec"]["trainer"]["numNode"] = typo["spec"]["trainer"].pop("numNodes")
    fb = ch19.gpu_trainjob(typo, **CONTEXT)
    assert fb.ok is False and "would refuse it" in fb.message
    untolerated = bigger()
    del untolerated["spec"]["runtimePatches"]
    assert "toleration" in ch19.gpu_trainjob(untolerated, **CONTEXT).message
