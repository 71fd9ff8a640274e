"""Supervised fine-tuning and continued pretraining, both on trl's ``SFTTrainer``.

SFT data is conversational prompt/completion, so ``completion_only_loss`` gives "loss on
responses only" (``train_on_prompt: false``) without template-specific masking. Pretraining
data is a plain ``text`` column: language modelling on every token, packed when asked.
Without packing, batches are grouped by length so CPU runs do not pay for padding.
"""

from __future__ import annotations

from typing import Any

from tunetui.runner.train.stages.common import StageContext, make_trainer


def _sft_like(ctx: StageContext, text_only: bool) -> Any:
    from trl import SFTConfig, SFTTrainer

    data = ctx.recipe.data
    fields: dict[str, Any] = {
        "max_length": data.cutoff_len,
        "packing": data.packing,
        "dataset_num_proc": None,
    }
    if text_only:
        fields["dataset_text_field"] = "text"
    else:
        fields["completion_only_loss"] = not data.train_on_prompt
    if not data.packing:
        fields["train_sampling_strategy"] = "group_by_length"
    return make_trainer(SFTTrainer, SFTConfig, ctx, **fields)


def build_sft(ctx: StageContext) -> Any:
    """SFTTrainer on prompt/completion (or messages) data."""
    return _sft_like(ctx, text_only=False)


def build_pt(ctx: StageContext) -> Any:
    """SFTTrainer on a ``text`` column: plain causal language modelling."""
    return _sft_like(ctx, text_only=True)
