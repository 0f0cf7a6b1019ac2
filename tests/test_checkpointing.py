"""Atomic checkpoints, RNG state and the SIGTERM flag (chapter 22)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from mlops_course import checkpointing

# A child that overwrites PATH with NEW's bytes and SIGKILLs itself half-way.
TORN_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from mlops_course import checkpointing

    mode, path, new = sys.argv[1:]
    payload = Path(new).read_bytes()

    def dying_write(state, file):
        file.write(payload[: len(payload) // 2])
        file.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    if mode == "in-place":
        with open(path, "wb") as file:
            dying_write(None, file)
    else:
        checkpointing.atomic_save(None, path, write=dying_write)
    """
)


def _kill_during_write(tmp_path, mode: str):
    path = tmp_path / f"{mode}.ckpt"
    checkpointing.atomic_save({"epoch": 1, "w": torch.zeros(50_000)}, path)
    new = tmp_path / "new.bytes"
    torch.save({"epoch": 2, "w": torch.ones(50_000)}, new)
    done = subprocess.run(
        [sys.executable, "-c", TORN_WRITE, mode, str(path), str(new)],
        timeout=60,
        capture_output=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return path


def test_an_atomic_checkpoint_survives_a_kill_during_the_write(tmp_path):
    path = _kill_during_write(tmp_path, "atomic")
    assert checkpointing.load(path)["epoch"] == 1  # the previous one, whole
    assert list(tmp_path.glob(".atomic.ckpt.*.tmp"))  # the killed write's leftover


def test_a_checkpoint_written_in_place_is_torn_by_the_same_kill(tmp_path):
    path = _kill_during_write(tmp_path, "in-place")
    with pytest.raises(Exception):  # noqa: B017 - torch raises several kinds
        torch.load(path, weights_only=True)


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path):
    path = tmp_path / "run.ckpt"
    checkpointing.atomic_save({"epoch": 1}, path)

    def failing(state, file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        checkpointing.atomic_save({"epoch": 2}, path, write=failing)
    assert checkpointing.load(path) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]


def test_rng_state_round_trip_replays_the_same_draws():
    generator = torch.Generator().manual_seed(3)
    state = checkpointing.rng_state(generator)
    first = (torch.rand(3), random.random(), torch.randperm(10, generator=generator))
    torch.rand(5), random.random(), torch.rand(2, generator=generator)  # move on
    checkpointing.restore_rng(state, generator)
    again = (torch.rand(3), random.random(), torch.randperm(10, generator=generator))
    assert torch.equal(first[0], again[0]) and first[1] == again[1]
    assert torch.equal(first[2], again[2])
    with pytest.raises(ValueError, match="1 generator states, 0 generators"):
        checkpointing.restore_rng(state)


def test_preemption_turns_sigterm_into_a_flag_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with checkpointing.Preemption() as preemption:
        assert not preemption.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert preemption.requested and preemption.signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
    assert checkpointing.PREEMPTED_EXIT == 143
