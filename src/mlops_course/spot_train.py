"""Train chapter 1's network so that SIGTERM at any step loses nothing (chapter 22).

The tested version of the script chapter 22 writes with ``%%writefile``. It
builds on chapter 14 (:mod:`mlops_course.ddp_train`): the same settings
(:class:`Config` extends :class:`mlops_course.ddp_train.Config`), the same
network and optimiser, one process. What it adds is the checkpoint a spot
machine needs:

- written every ``checkpoint_every`` steps *and* when SIGTERM arrives
  (:class:`mlops_course.checkpointing.Preemption`), always atomically;
- holding the weights, the optimiser state, every RNG state, the epoch and the
  position inside it (steps done, and the shuffle generator's state at the
  start of the epoch, from which the epoch's order is drawn again);
- so a run stopped and resumed ends with the same weights, bit for bit, as one
  that never stopped (``tests/test_spot_train.py``).

Run it as ``python -m mlops_course.spot_train --out result.pt --data train.pt
--checkpoint run.ckpt``; a preempted run exits with status 143 (128 + SIGTERM)
after saving, and the same command resumes it. :func:`launched` starts it as a
child process that is stopped, whatever happens, when its ``with`` block ends.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlops_course import checkpointing, ddp_train, servers, torch_model


@dataclass(frozen=True)
class Config(ddp_train.Config):
    """Chapter 14's settings, plus where and how often to checkpoint."""

    checkpoint: str = ""  # empty: ``out`` with the suffix ``.ckpt``
    checkpoint_every: int = 20  # optimisation steps between two checkpoints
    step_seconds: float = 0.0  # a pause per step, standing in for a bigger model

    @property
    def checkpoint_path(self) -> Path:
        """Where the checkpoint lives."""
        return Path(self.checkpoint or Path(self.out).with_suffix(".ckpt"))


def _tensors(config: Config) -> tuple[torch.Tensor, torch.Tensor]:
    if config.data:
        return torch.load(config.data, weights_only=True)
    tensors = torch_model.make_tensors(config.n_rows, config.seed)
    return tensors.x_train, tensors.y_train


def train(config: Config) -> int:
    """Train, resuming from the checkpoint if there is one; 0 done, 143 preempted."""
    torch_model.configure_determinism(config.seed)
    x, y = _tensors(config)
    network = torch_model.make_network(
        x.shape[1], hidden=config.hidden, seed=config.seed
    )
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    shuffle = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=config.batch_size,
        shuffle=True,
        generator=shuffle,
        drop_last=True,
    )
    epoch, step, losses, total = 0, 0, [], torch.zeros(2)
    checkpoint = config.checkpoint_path
    if checkpoint.exists():
        state = checkpointing.load(checkpoint)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        checkpointing.restore_rng(state["rng"])
        shuffle.set_state(state["epoch_shuffle"])
        epoch, step = state["epoch"], state["step"]
        losses, total = state["losses"], state["epoch_total"]
    resumed_at = [epoch, step]

    def save() -> None:
        state = {
            "model": network.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": checkpointing.rng_state(),
            "epoch_shuffle": epoch_shuffle,
            "epoch": epoch,
            "step": step,
            "losses": losses,
            "epoch_total": total,
        }
        checkpointing.atomic_save(state, checkpoint)

    with checkpointing.Preemption() as preemption:
        while epoch < config.epochs:
            epoch_shuffle = shuffle.get_state()  # the epoch's order is drawn from it
            network.train()
            for xb, yb in itertools.islice(iter(loader), step, None):
                optimizer.zero_grad()
                loss = loss_fn(network(xb).squeeze(1), yb)
                loss.backward()
                optimizer.step()
                total += torch.tensor([loss.item() * len(yb), len(yb)])
                step += 1
                time.sleep(config.step_seconds)
                if preemption.requested:
                    save()
                    print(f"preempted: saved epoch {epoch} step {step}", flush=True)
                    return checkpointing.PREEMPTED_EXIT
                if step % config.checkpoint_every == 0:
                    save()
                    print(f"checkpoint: epoch {epoch} step {step}", flush=True)
            losses.append(float(total[0] / total[1]))
            epoch, step, total = epoch + 1, 0, torch.zeros(2)
    result = {
        "state_dict": network.state_dict(),
        "losses": losses,
        "resumed_at": resumed_at,
    }
    checkpointing.atomic_save(result, config.out)
    print("done", flush=True)
    return 0


def command(config: Config) -> list[str]:
    """The argument list that runs :func:`main` with ``config`` in a new Python."""
    return [sys.executable, "-m", "mlops_course.spot_train", *config.to_args()]


@contextlib.contextmanager
def launched(config: Config, *, grace: float = 10) -> Iterator[subprocess.Popen]:
    """The training run as a child process (its output on ``stdout``, as text).

    The child has its own process group; when the block ends, for whatever
    reason, a child still running gets SIGTERM, then SIGKILL after ``grace``
    seconds (and, on Linux, it dies with its parent).
    """
    process = subprocess.Popen(
        command(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        preexec_fn=servers.die_with_parent if sys.platform == "linux" else None,
    )
    try:
        yield process
    finally:
        servers.stop_process_group(process, grace)
        if process.stdout is not None:
            process.stdout.close()


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
    """Entry point: train (or resume) with the flags given."""
    return train(parse_config(argv))


if __name__ == "__main__":
    sys.exit(main())
