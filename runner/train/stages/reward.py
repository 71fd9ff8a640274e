"""Reward modelling: a one-logit sequence classifier trained on chosen/rejected pairs
(trl's ``RewardTrainer``, Bradley-Terry loss). The worker loads the model with
``task="reward"`` (``AutoModelForSequenceClassification``, ``num_labels=1``)."""

from __future__ import annotations

from typing import Any

from tunetui.runner.train.stages.common import StageContext, make_trainer


def build_rm(ctx: StageContext) -> Any:
    """RewardTrainer on prompt/chosen/rejected data."""
    from trl import RewardConfig, RewardTrainer

    return make_trainer(RewardTrainer, RewardConfig, ctx, max_length=ctx.recipe.data.cutoff_len)
