"""Checks for chapter 19's exercises (Ray Train, then the job on Kubernetes)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mlops_course import crd_checks
from mlops_course.exercises import exercise, expect, expect_type

GPU = "nvidia.com/gpu"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


@exercise("ex-19-1")
def best_checkpoint(checkpoint, *, metrics, storage) -> str:
    """The interrupted run's checkpoint with the lowest validation loss, on storage."""
    path = getattr(checkpoint, "path", checkpoint)
    expect_type(path, (str, os.PathLike), "a ray.train.Checkpoint (or its path)")
    path = Path(path).resolve()
    storage = Path(storage).resolve()
    expect(
        storage in path.parents,
        f"{path.name} is not under the run's storage_path: a checkpoint a worker "
        "keeps on its own disk is lost with the worker",
    )
    state = path / "state.pt"
    expect(state.is_file(), f"{path.name} holds no state.pt: not one of the run's")
    import torch

    epoch = int(torch.load(state, weights_only=True)["epoch"])
    rows = list(zip(metrics["epoch"], metrics["val_loss"], strict=True))
    best_epoch, best_loss = min(rows, key=lambda row: row[1])
    loss = dict(rows).get(epoch)
    expect(
        int(best_epoch) == epoch,
        f"that checkpoint is from epoch {epoch} (validation loss {loss:.4f}), but "
        f"epoch {int(best_epoch)} reported {best_loss:.4f}: ask the Result for the "
        "best by val_loss, not the latest",
    )
    return (
        "the checkpoint of the epoch with the lowest validation loss, read from the "
        "run's storage, where any worker (or a later job) can find it"
    )


def _pod_specs(runtime_patches) -> list[Mapping]:
    """The pod-spec patches of a TrainJob's runtimePatches, wherever they are."""
    specs = []
    for patch in runtime_patches or []:
        template = patch.get("trainingRuntimeSpec", {}).get("template", {})
        for job in template.get("spec", {}).get("replicatedJobs", []):
            spec = job.get("template", {}).get("spec", {}).get("template", {})
            specs.append(spec.get("spec", {}))
    return specs


@exercise("ex-19-2")
def gpu_trainjob(manifest, *, nodes, gpus_per_node, queue) -> str:
    """A TrainJob the API server accepts: nodes x GPUs, one process per GPU, queued."""
    expect_type(manifest, Mapping, "the TrainJob as a dict")
    expect(
        manifest.get("kind") == "TrainJob",
        f"kind is {manifest.get('kind')!r}, not 'TrainJob'",
    )
    errors = crd_checks.api_server_errors(manifest)
    expect(not errors, "the API server would refuse it: " + "; ".join(errors[:3]))
    trainer = manifest["spec"].get("trainer", {})
    expect(
        trainer.get("numNodes") == nodes,
        f"numNodes is {trainer.get('numNodes')}, the job asks for {nodes} nodes",
    )
    limits = trainer.get("resourcesPerNode", {}).get("limits", {})
    gpus = limits.get(GPU)
    expect(
        str(gpus) == str(gpus_per_node),
        f"resourcesPerNode.limits[{GPU!r}] is {gpus!r}: each node needs "
        f"{gpus_per_node} GPUs (GPUs are requested as limits)",
    )
    procs = trainer.get("numProcPerNode")
    expect(
        procs == gpus_per_node,
        f"numProcPerNode is {procs}: with {gpus_per_node} GPUs per node, start one "
        "process per GPU, or GPUs sit idle",
    )
    labels = manifest.get("metadata", {}).get("labels", {})
    expect(
        labels.get(QUEUE_LABEL) == queue,
        f"label {QUEUE_LABEL} is {labels.get(QUEUE_LABEL)!r}: Kueue admits the job "
        f"only through its queue, {queue!r}",
    )
    tolerated = [
        t
        for spec in _pod_specs(manifest["spec"].get("runtimePatches"))
        for t in spec.get("tolerations", [])
        if t.get("key") == GPU
    ]
    expect(
        bool(tolerated),
        f"no toleration for the {GPU} taint in runtimePatches: the pods would never "
        "be scheduled on the tainted GPU nodes",
    )
    return (
        "the schema accepts it, and it asks for whole GPU nodes through the team's "
        "queue, one process per GPU, tolerating the GPU taint"
    )
