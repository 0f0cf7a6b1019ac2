"""Chapter 1b's network trained with Ray Train on this machine's CPUs (chapter 19).

The tested copy of the chapter's training loop (:func:`train_loop`), the
settings a local, offline Ray needs (:data:`RAY_ENV`), and :func:`ray_processes`,
which finds Ray processes still running under a process (the chapter and its
tests assert that none survive ``ray.shutdown()``). :func:`driver_output_to`
and :func:`raylet_notices` keep the notices Ray's driver prints when a worker
dies (with ids that differ on every run) in a file, and read them back.

The loop reads its tensors from a file (``config["data"]``: a
``torch.save``'d ``(x_train, y_train, x_valid, y_valid)``), takes its shard
with Ray's ``prepare_data_loader`` (a ``DistributedSampler`` underneath),
wraps the network with ``prepare_model`` (DDP over gloo), reports the
validation loss every epoch through ``ray.train.report`` with a checkpoint
written by rank 0, and resumes from ``ray.train.get_checkpoint()`` after a
restart. Every report also carries ``start_epoch``, the epoch this worker group
started from (0 on a fresh start, the checkpoint's epoch + 1 after a resume), so
the driver can tell a resume from a restart at epoch 0: with fixed seeds and
shuffles both end with the same numbers. ``config["crash_at"]`` is a fire drill:
the last rank kills its own process (SIGKILL) once (a marker file remembers),
after Ray has committed that epoch's checkpoint. A report reaches Ray's
controller only when it polls the workers (every 2 s by default); a process
killed straight after ``ray.train.report`` takes its last report with it, and
the restart would resume one checkpoint earlier. Waiting for the commit
(``ray.train.get_all_reported_checkpoints``) makes the restart point the same on
every run: the epoch after ``crash_at``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

#: Environment for a local Ray in the course: no usage report, no token file in
#: the home folder (loopback only, one user), C++ components quiet but for errors.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_BACKEND_LOG_LEVEL": "error",
}

#: Executable names of Ray's own processes (workers are ``ray::...`` titles).
RAY_PROCESS_NAMES = ("raylet", "gcs_server", "plasma_store")


def train_loop(config: dict) -> None:
    """One Ray Train worker: shard, DDP, report + checkpoint per epoch, resume.

    Reports ``epoch``, ``val_loss`` and ``start_epoch`` (where this attempt began).
    """
    import ray.train
    import ray.train.torch
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from mlops_course import torch_model

    torch_model.configure_determinism(config["seed"])
    x, y, x_valid, y_valid = torch.load(config["data"], weights_only=True)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=config["batch_size"] // world,  # the GLOBAL batch, as in ch. 14
        shuffle=True,
        drop_last=True,
    )
    loader = ray.train.torch.prepare_data_loader(loader)  # DistributedSampler
    network = torch_model.make_network(x.shape[1], seed=config["seed"])
    model = ray.train.torch.prepare_model(network)  # DDP when world > 1
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    loss_fn = nn.BCEWithLogitsLoss()
    first_epoch = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:  # a restart: resume where the last checkpoint left off
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / "state.pt", weights_only=True)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = state["epoch"] + 1
    for epoch in range(first_epoch, config["epochs"]):
        if world > 1:
            loader.sampler.set_epoch(epoch)
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb).squeeze(1), yb).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(network(x_valid).squeeze(1), y_valid))
        with tempfile.TemporaryDirectory() as folder:
            saved = None
            if rank == 0:
                state = {"epoch": epoch, "model": network.state_dict()}
                state["optimizer"] = optimizer.state_dict()
                torch.save(state, Path(folder) / "state.pt")
                saved = ray.train.Checkpoint.from_directory(folder)
            metrics = {"epoch": epoch, "val_loss": val_loss, "start_epoch": first_epoch}
            ray.train.report(metrics, checkpoint=saved)
        marker = Path(config.get("marker", os.devnull))
        drill = epoch == config.get("crash_at", -1) and rank == world - 1
        if drill and not marker.exists():  # once: the restarted worker goes on
            # Until Ray has committed this epoch's checkpoint, then die.
            committed = ray.train.CheckpointConsistencyMode.COMMITTED
            ray.train.get_all_reported_checkpoints(consistency_mode=committed)
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


def ray_processes(parent: psutil.Process | None = None) -> list[str]:
    """Names of Ray processes still running under ``parent`` (this process)."""
    parent = parent or psutil.Process()
    found = []
    for proc in parent.children(recursive=True):
        try:
            name, cmdline = proc.name(), " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if name in RAY_PROCESS_NAMES or "ray::" in cmdline or "/ray/" in cmdline:
            found.append(name)
    return sorted(found)


@contextlib.contextmanager
def native_stderr_to(path: str | os.PathLike) -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to ``path`` meanwhile.

    Ray's C++ core logs its start-up (the address probe, the log level) straight
    to the process's stderr, with timestamps; in a notebook that becomes an
    output that differs on every run. The lines are kept in ``path``.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def driver_output_to(
    path: str | os.PathLike, until: str | None = None, timeout: float = 60.0
) -> Iterator[None]:
    """Send what the driver prints to ``path`` meanwhile, and until ``until`` came.

    When a worker process dies, the raylet tells the driver, and a background
    thread of ``ray.init`` prints the notice (``(raylet) A worker died or was
    killed ...``, with lease, worker and node ids) whenever it arrives: in a
    notebook, in whichever cell runs then. Inside the block, ``sys.stdout`` and
    ``sys.stderr`` are the file. With ``until``, the redirection lasts after
    the block until a line containing it was written (at most ``timeout``
    seconds), so a late notice cannot land in a later cell.
    """
    path = Path(path)
    with (
        open(path, "a") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        yield
        deadline = time.monotonic() + timeout
        while until is not None and time.monotonic() < deadline:
            log.flush()
            if until in path.read_text():
                break
            time.sleep(0.05)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def raylet_notices(path: str | os.PathLike) -> list[str]:
    """The first sentence of each ``(raylet)`` notice in ``path``: no colour, no ids."""
    notices = []
    for line in Path(path).read_text().splitlines():
        line = _ANSI.sub("", line).strip()
        if line.startswith("(raylet) "):
            first = line.removeprefix("(raylet) ").split(". ")[0]
            notices.append(first.rstrip(".") + ".")
    return notices


__all__ = [
    "RAY_ENV",
    "RAY_PROCESS_NAMES",
    "driver_output_to",
    "native_stderr_to",
    "ray_processes",
    "raylet_notices",
    "train_loop",
]
