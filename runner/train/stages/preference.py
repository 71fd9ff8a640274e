"""Preference optimisation: DPO, KTO (trl core) and ORPO (``trl.experimental``).

With LoRA/DoRA/QLoRA the reference policy is the base model with the adapter disabled, so
no second copy of the weights is loaded; with full/freeze training trl loads the reference
from the same folder with the same dtype. ``training.pref_beta`` is each method's beta.
"""

from __future__ import annotations

from typing import Any

from tunetui.runner.train.stages.common import StageContext, make_trainer


def _preference(trainer_cls: type, config_cls: type, ctx: StageContext, **extra: Any) -> Any:
    """A preference trainer: every one takes the recipe's beta and the cutoff as max_length."""
    return make_trainer(
        trainer_cls,
        config_cls,
        ctx,
        beta=ctx.recipe.training.pref_beta,
        max_length=ctx.recipe.data.cutoff_len,
        **extra,
    )


def build_dpo(ctx: StageContext) -> Any:
    """DPOTrainer on prompt/chosen/rejected data."""
    from trl import DPOConfig, DPOTrainer

    return _preference(DPOTrainer, DPOConfig, ctx)


def build_kto(ctx: StageContext) -> Any:
    """KTOTrainer on prompt/completion/label data (unpaired preferences)."""
    from trl import KTOConfig, KTOTrainer

    return _preference(KTOTrainer, KTOConfig, ctx)


def build_orpo(ctx: StageContext) -> Any:
    """ORPOTrainer (experimental in trl 1.16): SFT + odds-ratio preference, no reference."""
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return _preference(
        ORPOTrainer, ORPOConfig, ctx, max_completion_length=ctx.recipe.data.cutoff_len // 2
    )
