"""Chapter 14's exercise checks, on a right answer and on wrong ones."""

import torch
from torch.utils.data import DistributedSampler, TensorDataset

from mlops_course.exercises import ch14

SEED = 7
TRAIN = TensorDataset(torch.arange(500))


def starts(set_epoch):
    sampler = DistributedSampler(TRAIN, num_replicas=2, rank=0, seed=SEED)
    out = []
    for epoch in range(2):
        if set_epoch:
            sampler.set_epoch(epoch)
        out.append(list(sampler)[:10])
    return out


def test_epoch_shuffle_accepts_the_sampler_s_orders():
    fb = ch14.epoch_shuffle(starts(False), starts(True), train_set=TRAIN, seed=SEED)
    assert fb.ok is True, fb.message


def test_epoch_shuffle_refuses_set_epoch_in_both_or_in_neither():
    fb = ch14.epoch_shuffle(starts(True), starts(True), train_set=TRAIN, seed=SEED)
    assert fb.ok is False
    assert "your two epochs without set_epoch differ" in fb.message
    fb = ch14.epoch_shuffle(starts(False), starts(False), train_set=TRAIN, seed=SEED)
    assert "call sampler.set_epoch(epoch) before iterating each epoch" in fb.message


def test_epoch_shuffle_refuses_another_rank_s_indices():
    rank1 = DistributedSampler(TRAIN, num_replicas=2, rank=1, seed=SEED)
    wrong = [list(rank1)[:10]] * 2
    fb = ch14.epoch_shuffle(wrong, starts(True), train_set=TRAIN, seed=SEED)
    assert fb.message.startswith("these are not rank 0's first ten indices")


def shards(n, drop_last):
    rows = TensorDataset(torch.arange(n))
    return [
        list(DistributedSampler(rows, 2, rank, seed=SEED, drop_last=drop_last))
        for rank in range(2)
    ]


def test_uneven_shards_accepts_the_padded_and_the_dropped_shards():
    answer = {d: shards(ch14.N_ODD, d) for d in (False, True)}
    fb = ch14.uneven_shards(answer, seed=SEED)
    assert fb.ok is True, fb.message


def test_uneven_shards_refuses_an_even_dataset_and_swapped_settings():
    even = {d: shards(14_000, d) for d in (False, True)}
    fb = ch14.uneven_shards(even, seed=SEED)
    assert fb.ok is False
    assert "use 14,001 rows" in fb.message
    swapped = {d: shards(ch14.N_ODD, not d) for d in (False, True)}
    fb = ch14.uneven_shards(swapped, seed=SEED)
    assert fb.message.startswith("drop_last=False: 7000 rows per rank")


def test_uneven_shards_refuses_a_hand_split():
    order = list(range(ch14.N_ODD))
    hand = {d: [order[0::2], order[1::2]] for d in (False, True)}
    fb = ch14.uneven_shards(hand, seed=SEED)
    assert "the ranks got 7001 and 7000 rows" in fb.message
