"""Longest batch first: the first optimizer step of every run trains on the longest batch.

Memory grows with the padded length of a batch, so a run that will run out of memory on
its longest batch should do so in its first seconds, not after hours (issue 13 §2). The
trainer's own sampler is kept (transformers' extension point ``_get_train_sampler``) and
wrapped: in the first epoch the first micro-batch of every process holds the longest
samples (lengths after truncation and packing, read from the dataset the trainer built),
and every other index follows in the trainer's order. A random order is redrawn from the
run's data seed and the epoch (``set_epoch``, which the Trainer calls), so a resumed run
skips exactly the batches it already trained on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import RandomSampler, Sampler


class LongestFirstSampler(Sampler[int]):
    """The ``first`` longest indices, then the rest in the trainer's (random) order."""

    def __init__(self, base: Sampler[int], lengths: Sequence[int], first: int, seed: int) -> None:
        self.base = base
        self.seed = seed
        self.epoch = 0
        n = len(lengths)
        self.head = sorted(range(n), key=lambda i: (-lengths[i], i))[: max(1, first)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def _order(self) -> list[int]:
        if isinstance(self.base, RandomSampler):  # redrawn per epoch from the data seed
            gen = torch.Generator()
            gen.manual_seed(self.seed + self.epoch)
            return torch.randperm(len(self.base), generator=gen).tolist()
        return list(self.base)

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        if self.epoch > 0:
            yield from order
            return
        head = set(self.head)
        yield from self.head
        yield from (i for i in order if i not in head)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]


def sample_lengths(dataset: Any) -> list[int] | None:
    """Each sample's token count as the trainer built it (after truncation and packing):
    ``input_ids`` (sft/pt), ``prompt_ids`` plus the longer of ``chosen_ids``/``rejected_ids``
    or ``completion_ids`` (trl's dpo/orpo/kto/rm columns). None when the dataset has no
    token columns (nothing to order by)."""
    columns = [c for c in getattr(dataset, "column_names", None) or [] if c.endswith("ids")]
    if not columns:
        return None
    values = {c: [len(x) for x in dataset[c]] for c in columns}
    prompt = values.pop("prompt_ids", None) or values.pop("prompt_input_ids", None)
    answers = list(values.values())
    if not answers:
        return prompt
    longest = [max(parts) for parts in zip(*answers, strict=True)]
    return [a + p for a, p in zip(longest, prompt, strict=True)] if prompt else longest


class LongestFirstMixin:
    """Put before a transformers/trl trainer class: its train sampler, longest batch first."""

    args: Any
    train_dataset: Any

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        base = super()._get_train_sampler(train_dataset)  # type: ignore[misc]
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        lengths = sample_lengths(dataset) if base is not None else None
        if not lengths:
            return base
        cap = getattr(self.args, "max_length", None)  # dpo/kto/rm truncate in the collator
        if cap:
            lengths = [min(n, cap) for n in lengths]
        first = self.args.per_device_train_batch_size * max(1, self.args.world_size)
        return LongestFirstSampler(base, lengths, first, self.args.data_seed or self.args.seed)


def longest_first(trainer_cls: type) -> type:
    """``trainer_cls`` with `LongestFirstMixin` (a subclass of the same name)."""
    return type(trainer_cls.__name__, (LongestFirstMixin, trainer_cls), {})
