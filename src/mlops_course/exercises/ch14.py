"""Checks for chapter 14's exercises (DistributedSampler: epochs and uneven shards)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mlops_course.exercises import exercise, expect, expect_type

N_ODD = 14_001  # the exercise's dataset, one row more than the chapter's
WORLD = 2


def _rank0_start(train_set, seed, epoch=None, n=10) -> list[int]:
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(train_set, num_replicas=WORLD, rank=0, seed=seed)
    if epoch is not None:
        sampler.set_epoch(epoch)
    return list(sampler)[:n]


def _pairs(answer, what) -> list[list[int]]:
    expect_type(answer, Sequence, f"{what}: a list of two index lists")
    expect(len(answer) == 2, f"{what}: give epochs 0 and 1, {len(answer)} given")
    return [[int(i) for i in epoch] for epoch in answer]


@exercise("ex-14-1")
def epoch_shuffle(without, with_epoch, *, train_set, seed) -> str:
    """Rank 0's first ten indices in epochs 0 and 1, without and with set_epoch."""
    without = _pairs(without, "without set_epoch")
    with_epoch = _pairs(with_epoch, "with set_epoch")
    start = _rank0_start(train_set, seed)
    expect(
        all(len(e) == 10 for e in without + with_epoch),
        "take the first ten indices of each epoch",
    )
    expect(
        without[0] == start,
        "these are not rank 0's first ten indices: use a DistributedSampler over "
        "train_set with num_replicas=2, rank=0 and the chapter's seed",
    )
    expect(
        without[1] == without[0],
        "your two epochs without set_epoch differ: without it the sampler's epoch "
        "stays 0 and iterating it again gives the same order",
    )
    expect(
        with_epoch[0] != with_epoch[1],
        "with set_epoch your epochs 0 and 1 start the same: call "
        "sampler.set_epoch(epoch) before iterating each epoch",
    )
    for epoch in range(2):
        expect(
            with_epoch[epoch] == _rank0_start(train_set, seed, epoch),
            f"your epoch {epoch} with set_epoch is not the sampler's order for that "
            "epoch: same sampler, set_epoch(epoch), then iterate",
        )
    return (
        "without set_epoch every epoch repeats the same order; set_epoch(epoch) "
        "gives a new shuffle per epoch, the same on every rank"
    )


@exercise("ex-14-2")
def uneven_shards(shards, *, seed) -> str:
    """Both ranks' indices of 14,001 rows, with drop_last False and True."""
    import torch
    from torch.utils.data import DistributedSampler, TensorDataset

    expect_type(shards, Mapping, "a dict: drop_last (False, True) -> [rank 0, rank 1]")
    expect(
        set(shards) == {False, True},
        f"shards has keys {sorted(shards)}: give drop_last=False and drop_last=True",
    )
    rows = TensorDataset(torch.arange(N_ODD))
    for drop_last in (False, True):
        got = [[int(i) for i in rank] for rank in shards[drop_last]]
        expect(len(got) == WORLD, f"drop_last={drop_last}: give one list per rank")
        sizes = [len(rank) for rank in got]
        expect(
            sizes[0] == sizes[1],
            f"drop_last={drop_last}: the ranks got {sizes[0]} and {sizes[1]} rows; "
            "the sampler gives every rank the same number, so that all take the "
            "same number of steps",
        )
        per_rank = (N_ODD // WORLD) if drop_last else math.ceil(N_ODD / WORLD)
        expect(
            sizes[0] == per_rank,
            f"drop_last={drop_last}: {sizes[0]} rows per rank, but {N_ODD:,} rows "
            f"over {WORLD} ranks give {per_rank} when the sampler "
            f"{'drops the tail' if drop_last else 'pads'}: use {N_ODD:,} rows",
        )
        both = len(set(got[0]) & set(got[1]))
        if drop_last:
            expect(both == 0, "with drop_last=True no index may be on both ranks")
        else:
            expect(
                both == WORLD * per_rank - N_ODD,
                f"{both} indices on both ranks: padding repeats the first "
                f"{WORLD * per_rank - N_ODD} of the shuffled order",
            )
        want = [
            list(DistributedSampler(rows, WORLD, r, seed=seed, drop_last=drop_last))
            for r in range(WORLD)
        ]
        expect(
            got == want,
            f"drop_last={drop_last}: the sizes are right but these are not the "
            "sampler's indices with the chapter's seed",
        )
    return (
        "padding repeats a row on both ranks, drop_last skips one; either way the "
        "ranks take the same number of steps"
    )
