"""Longest batch first (issue 13 §2): the first optimizer step trains on the longest samples
(as the trainer tokenized, truncated and packed them); the order stays random after it and
is the same again for a resumed run (seeded per epoch)."""

from __future__ import annotations

import pytest
from built import built_trainer
from torch.utils.data import RandomSampler, SequentialSampler
from tunetui.runner.train.hostmem import CPU_PAD_MULTIPLE
from tunetui.runner.train.ordering import LongestFirstSampler, sample_lengths

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_first_batch_of_the_trainer_holds_the_longest_samples(make_run, stage: str) -> None:
    run_dir = make_run(stage=stage, training={"batch_size": 3, "grad_accum": 2})
    trainer = built_trainer(run_dir)
    cap = getattr(trainer.args, "max_length", None) or 10**9  # dpo truncates when collating
    lengths = [min(n, cap) for n in sample_lengths(trainer.train_dataset)]
    order = list(trainer._get_train_sampler())
    assert sorted(order) == list(range(len(lengths)))  # every sample once
    longest = sorted(lengths, reverse=True)[:3]
    assert sorted((lengths[i] for i in order[:3]), reverse=True) == longest
    assert sorted(lengths)[0] < longest[-1]  # the data has lengths to order (it can fail)
    batch = next(iter(trainer.get_train_dataloader()))  # what the first step trains on
    padded = -(-max(lengths) // CPU_PAD_MULTIPLE) * CPU_PAD_MULTIPLE  # CPU pads (hostmem)
    assert batch["input_ids"].shape[1] == padded


def test_the_rest_keeps_a_seeded_random_order_and_later_epochs_are_plain_shuffles() -> None:
    lengths = [5, 50, 7, 9, 40, 3, 8, 6, 4, 30, 2, 11]
    sampler = LongestFirstSampler(RandomSampler(range(12)), lengths, first=2, seed=42)
    first = list(sampler)
    assert first[:2] == [1, 4] and sorted(first) == list(range(12))
    again = LongestFirstSampler(RandomSampler(range(12)), lengths, first=2, seed=42)
    assert list(again) == first  # a resumed run skips exactly what it trained on
    other = LongestFirstSampler(RandomSampler(range(12)), lengths, first=2, seed=7)
    assert list(other)[2:] != first[2:]  # random after the head: the seed decides
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(second) == list(range(12)) and second != first


def test_a_sequential_trainer_order_is_kept_after_the_head() -> None:
    lengths = [1, 9, 2, 8, 3]
    sampler = LongestFirstSampler(SequentialSampler(range(5)), lengths, first=1, seed=0)
    assert list(sampler) == [1, 0, 2, 3, 4]
