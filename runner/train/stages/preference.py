"""Preference optimisation: DPO, KTO (trl core) and ORPO (``trl.experimental``).

With LoRA/DoRA/QLoRA the reference policy is the base model with the adapter disabled, so
no second copy of the weights is loaded; with full/freeze training trl loads the reference
from the same folder with the same dtype. ``training.pref_beta`` is each method's beta.
"""

from __future__ import annotations

from typing import Any

from tunetui.runner.train.stages.common import StageContext, make_trainer


def build_dpo(ctx: StageContext) -> Any:
    """DPOTrainer on prompt/chosen/rejected data."""
    from trl import DPOConfig, DPOTrainer

    return make_trainer(
        DPOTrainer,
        DPOConfig,
        ctx,
        beta=ctx.recipe.training.pref_beta,
        max_length=ctx.recipe.data.cutoff_len,
    )


def build_kto(ctx: StageContext) -> Any:
    """KTOTrainer on prompt/completion/label data (unpaired preferences)."""
    from trl import KTOConfig, KTOTrainer

    return make_trainer(
        KTOTrainer,
        KTOConfig,
        ctx,
        beta=ctx.recipe.training.pref_beta,
        max_length=ctx.recipe.data.cutoff_len,
    )


def build_orpo(ctx: StageContext) -> Any:
    """ORPOTrainer (experimental in trl 1.16): SFT + odds-ratio preference, no reference."""
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    cutoff = ctx.recipe.data.cutoff_len
    return make_trainer(
        ORPOTrainer,
        ORPOConfig,
        ctx,
        beta=ctx.recipe.training.pref_beta,
        max_length=cutoff,
        max_completion_length=cutoff // 2,
    )
