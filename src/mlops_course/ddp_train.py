"""Train chapter 1's PyTorch network with DistributedDataParallel on CPUs (chapter 14).

Three ways in, one training function (:func:`train`):

- ``torchrun --nproc-per-node 2 -m mlops_course.ddp_train --out result.pt``
  (torchrun sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``);
- :func:`spawn`: ``torch.multiprocessing.spawn`` from Python (file rendezvous);
- :func:`run_torchrun`: torchrun as a child process group with a timeout, which is
  always stopped, workers included, even when training fails or hangs.

Every rank loads the same tensors (``--data``, saved by the caller) or generates
the same data from the seed, takes its
shard with ``DistributedSampler`` and averages gradients through the gloo
backend. ``--batch-size`` is the *global* batch: each of ``world_size`` ranks
takes ``batch_size // world_size`` rows per step, so one process and two
processes take the same optimisation steps. Rank 0 saves the final weights,
the loss per epoch and the training time with ``torch.save``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from mlops_course import servers, shell, torch_model


@dataclass(frozen=True)
class Config:
    """One training run: data, model and optimiser settings, and the result file."""

    out: str
    data: str = ""  # a torch.save'd (x_train, y_train); empty: generate from the seed
    n_rows: int = 20_000
    seed: int = 42
    epochs: int = 15
    batch_size: int = 256
    lr: float = 1e-3
    hidden: int = 16
    timeout_s: float = 60.0

    def to_args(self) -> list[str]:
        """The command-line flags :func:`main` parses back into this config."""
        return [
            f"--{name.replace('_', '-')}={value}"
            for name, value in asdict(self).items()
        ]


def train(rank: int, world_size: int, config: Config) -> None:
    """One rank's training loop; the process group must already be initialised."""
    torch_model.configure_determinism(config.seed)
    if config.data:  # tensors saved by the caller: no pandas or scikit-learn here
        x_train, y_train = torch.load(config.data, weights_only=True)
    else:
        tensors = torch_model.make_tensors(config.n_rows, config.seed)
        x_train, y_train = tensors.x_train, tensors.y_train
    dataset = TensorDataset(x_train, y_train)
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=config.seed
    )
    if config.batch_size % world_size:
        raise ValueError(f"batch size {config.batch_size} % {world_size} ranks != 0")
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size // world_size,
        sampler=sampler,
        drop_last=True,
    )
    network = torch_model.make_network(
        x_train.shape[1], hidden=config.hidden, seed=config.seed
    )
    model = DistributedDataParallel(network)  # broadcasts rank 0's weights
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    losses = []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        total = torch.zeros(2)
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x).squeeze(1), y)
            loss.backward()  # DDP all-reduces (averages) the gradients here
            optimizer.step()
            total += torch.tensor([loss.item() * len(y), len(y)])
        dist.all_reduce(total)  # the epoch's mean loss over every rank's rows
        losses.append(float(total[0] / total[1]))
    seconds = time.perf_counter() - start
    if rank == 0:
        result = {
            "state_dict": network.state_dict(),
            "losses": losses,
            "train_seconds": seconds,
            "world_size": world_size,
            "config": asdict(config),
        }
        torch.save(result, config.out)


def worker(rank: int, world_size: int, config: Config, init_method: str) -> None:
    """An ``mp.spawn`` target: join the gloo group, train, always leave the group."""
    dist.init_process_group(
        "gloo",
        init_method=init_method,
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=config.timeout_s),
    )
    try:
        train(rank, world_size, config)
    finally:
        dist.destroy_process_group()


def spawn(config: Config, world_size: int = 2) -> dict:
    """Train with ``world_size`` processes started by ``torch.multiprocessing``.

    The ranks meet through a file in a temporary folder (``file://`` rendezvous):
    no port, and no reverse DNS lookup of the TCP store's peers, which logs a
    warning where DNS is unreachable (the course's offline test sandbox).
    """
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="ddp-") as folder:
        init_method = f"file://{Path(folder) / 'rendezvous'}"
        mp.spawn(
            worker, args=(world_size, config, init_method), nprocs=world_size, join=True
        )
    return load_result(config.out)


def load_result(path: str | os.PathLike) -> dict:
    """What rank 0 saved (tensors and plain values only: ``weights_only=True``)."""
    return torch.load(path, weights_only=True)


def torchrun_command(
    nproc: int, target: list[str], *, max_restarts: int = 0
) -> list[str]:
    """``torchrun`` on this machine only: ``nproc`` ranks meeting on a free port."""
    return [
        "torchrun",
        f"--nproc-per-node={nproc}",
        "--nnodes=1",
        f"--max-restarts={max_restarts}",
        f"--master-addr={servers.HOST}",
        f"--master-port={servers.free_port()}",
        *target,
    ]


def run_torchrun(
    nproc: int, config: Config, *, timeout: float = 120, log: Path | None = None
) -> dict:
    """``torchrun --nproc-per-node N -m mlops_course.ddp_train``; stopped in any case.

    torchrun and its workers share one process group that is stopped when the
    run exceeds ``timeout`` seconds (and, on Linux, when the caller dies); see
    :func:`mlops_course.shell.run`. A failure raises ``RuntimeError`` quoting the
    end of the output.
    """
    argv = torchrun_command(nproc, ["-m", "mlops_course.ddp_train", *config.to_args()])
    try:
        done = shell.run(argv, env={"OMP_NUM_THREADS": "1"}, timeout=timeout)
    except shell.CommandError as err:
        raise RuntimeError(str(err)) from None
    if log is not None:
        Path(log).write_text(done.stdout + done.stderr)
    return load_result(config.out)


def parse_config(argv: list[str] | None = None) -> Config:
    """The :class:`Config` given by command-line flags (``--out`` is required)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in asdict(Config(out="")).items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(value),
            default=value,
            required=name == "out",
        )
    return Config(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    """Entry point under torchrun: read the rank from the environment and train."""
    config = parse_config(argv)
    dist.init_process_group("gloo", timeout=timedelta(seconds=config.timeout_s))
    try:
        train(dist.get_rank(), dist.get_world_size(), config)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
