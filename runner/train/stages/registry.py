"""The stages tunetui trains, and how each one's trainer is built.

PPO is not here: trl 1.16 removed its PPOTrainer (see docs/training.md). Each entry names
the model head the stage needs (``causal`` or ``reward``) and its trainer builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunetui.runner.train.stages.common import StageContext
from tunetui.runner.train.stages.preference import build_dpo, build_kto, build_orpo
from tunetui.runner.train.stages.reward import build_rm
from tunetui.runner.train.stages.sft import build_pt, build_sft


@dataclass(frozen=True)
class StageSpec:
    """One training stage: its model head, a description, and its trainer builder."""

    name: str
    task: str  # "causal" | "reward"
    description: str
    build: Callable[[StageContext], Any]
    # Trainers that run prepare_model_for_kbit_training themselves for QLoRA.
    prepares_kbit: bool = False


STAGES: dict[str, StageSpec] = {
    s.name: s
    for s in (
        StageSpec("sft", "causal", "supervised fine-tuning (SFTTrainer)", build_sft),
        StageSpec("pt", "causal", "continued pretraining on raw text (SFTTrainer)", build_pt),
        StageSpec("dpo", "causal", "direct preference optimisation (DPOTrainer)", build_dpo),
        StageSpec("kto", "causal", "Kahneman-Tversky optimisation (KTOTrainer)", build_kto),
        StageSpec(
            "orpo", "causal", "odds-ratio preference optimisation (ORPOTrainer)", build_orpo, True
        ),
        StageSpec("rm", "reward", "reward model (RewardTrainer, 1-logit head)", build_rm),
    )
}


def get_stage(name: str) -> StageSpec:
    """The spec of a stage (the recipe schema already restricts the names)."""
    return STAGES[name]
