"""Checkpoints that survive preemption: atomic writes, RNG state, SIGTERM (chapter 22).

Chapter 14's training script saved a checkpoint after every epoch with a plain
``torch.save`` over the previous one. Chapter 22 makes it safe to stop at any
step:

- :func:`atomic_save` writes to a temporary file in the same folder, flushes
  it to disk, then ``os.replace``s it over the old checkpoint: a process killed
  while writing leaves the previous checkpoint whole (a rename within one file
  system is atomic on POSIX);
- :func:`rng_state` / :func:`restore_rng` capture every random generator the
  training loop draws from, so a resumed run draws the same numbers;
- :class:`Preemption` turns SIGTERM (what a cloud sends before reclaiming a
  spot machine, and what Kubernetes sends before killing a pod) into a flag
  the loop checks between steps, instead of dying mid-step.

Importing the module does not import torch (only the functions that need it
do), so a small process that writes files with :func:`atomic_save` starts fast.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: The exit status of a process that stopped because it was asked to (128 + 15).
PREEMPTED_EXIT = 128 + signal.SIGTERM


def atomic_save(
    state: Any,
    path: str | os.PathLike,
    *,
    write: Callable[[Any, Any], None] | None = None,
) -> Path:
    """Write ``state`` to ``path`` so that ``path`` is always a whole checkpoint.

    ``write(state, file)`` writes into an open binary file (``torch.save`` by
    default). The temporary file is removed if writing fails (a SIGKILL gives
    no chance: the file is named after the process, ``.NAME.PID.tmp``).
    """
    if write is None:
        import torch

        write = torch.save
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            write(state, file)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it visible
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)
    return path


def rng_state(*generators: torch.Generator) -> dict[str, Any]:
    """The state of torch's and Python's global generators and of ``generators``."""
    import torch

    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "generators": [g.get_state() for g in generators],
    }


def restore_rng(state: dict[str, Any], *generators: torch.Generator) -> None:
    """Put the generators back where :func:`rng_state` found them."""
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if len(generators) != len(state["generators"]):
        raise ValueError(
            f"the checkpoint holds {len(state['generators'])} generator states, "
            f"{len(generators)} generators were given"
        )
    for generator, saved in zip(generators, state["generators"], strict=True):
        generator.set_state(saved)


class Preemption:
    """A context manager: inside it, SIGTERM sets :attr:`requested` instead of killing.

    The previous handlers come back on exit. Use it in the main thread (Python
    runs signal handlers there only).
    """

    def __init__(self, signals: Iterable[int] = (signal.SIGTERM,)) -> None:
        self.signals = tuple(signals)
        self.requested = False
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: object) -> None:
        self.requested, self.signal = True, signum

    def __enter__(self) -> Preemption:
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def load(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint written by this module's users, loaded with ``weights_only``.

    Python's ``random`` state is a tuple that ``weights_only=True`` accepts, and
    generator states are tensors; ``weights_only=True`` is kept.
    """
    import torch

    return torch.load(path, weights_only=True)


__all__ = [
    "PREEMPTED_EXIT",
    "Preemption",
    "atomic_save",
    "load",
    "restore_rng",
    "rng_state",
]
