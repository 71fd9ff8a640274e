"""What every stage shares: the context a trainer is built from, and the mapping of the
recipe's ``training`` section onto trl's ``*Config`` (a ``TrainingArguments`` subclass).

trl's configs change defaults that matter on a small machine (``gradient_checkpointing``
and ``bf16`` default to on), so every field the recipe governs is set explicitly here.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunetui.runner.recipe import Recipe
from tunetui.runner.requirements import liger_fallback
from tunetui.runner.train.hostmem import CPU_PAD_MULTIPLE
from tunetui.runner.train.methods import PrecisionChoice, optimizer_args
from tunetui.runner.train.ordering import longest_first
from tunetui.runner.train.preflight import check_loggers


@dataclass
class StageContext:
    """Everything a stage needs to build its trainer (the worker fills it in)."""

    recipe: Recipe
    run_dir: Path
    model: Any
    tokenizer: Any
    train_dataset: Any
    eval_dataset: Any
    peft_config: Any
    precision: PrecisionChoice
    device: str
    callbacks: list[Any] = field(default_factory=list)

    @property
    def checkpoints_dir(self) -> Path:
        return self.run_dir / "checkpoints"


def training_kwargs(ctx: StageContext) -> dict[str, Any]:
    """The ``TrainingArguments`` fields common to every stage, from the recipe."""
    r, t = ctx.recipe, ctx.recipe.training
    has_eval = ctx.eval_dataset is not None and len(ctx.eval_dataset) > 0
    report = check_loggers(r.report_to) or "none"
    kwargs: dict[str, Any] = {
        "output_dir": str(ctx.checkpoints_dir),
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "learning_rate": t.learning_rate,
        "lr_scheduler_type": t.lr_scheduler,
        "warmup_steps": t.warmup_ratio,  # a float < 1 is a ratio of the total steps
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps if t.max_steps else -1,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "logging_strategy": "steps",
        "logging_steps": t.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": (t.eval_steps or t.save_steps) if has_eval else None,
        "seed": t.seed,
        "data_seed": t.seed,
        "report_to": report,
        "gradient_checkpointing": t.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "bf16": ctx.precision.bf16,
        "fp16": ctx.precision.fp16,
        "use_cpu": ctx.device == "cpu",
        # Our callback prints progress lines; tqdm's carriage returns would clutter train.log.
        "disable_tqdm": True,
        # Worker processes only cost time on small machines and break the token counter.
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": ctx.device == "cuda",
        "use_liger_kernel": use_liger(r),
        "trust_remote_code": r.model.trust_remote_code,
    }
    if t.lr_scheduler == "cosine_with_min_lr":  # needs a floor; 10% of the peak
        kwargs["lr_scheduler_kwargs"] = {"min_lr_rate": 0.1}
    kwargs.update(optimizer_args(r, ctx.device))
    return kwargs


def use_liger(recipe: Recipe) -> bool:
    """Liger kernels when the recipe asks and they are installed (else a warning)."""
    if not recipe.model.liger_kernel:
        return False
    why = liger_fallback(recipe)
    if why:
        print(f"warning: {why}", file=sys.stderr, flush=True)  # and a `warning` event
        return False
    return True


class UnknownConfigField(TypeError):
    """A field this trl version's config class does not have.

    A programming error, not a user error: the recipe schema fixes the fields, so only a
    trl rename or a typo here can cause it. It names the field and the class so the rename
    is found at once instead of the setting being lost without a word.
    """


def make_config(config_cls: type, ctx: StageContext, **stage_fields: Any) -> Any:
    """Instantiate a trl config with the common fields plus `stage_fields`; a field the
    config class does not know raises `UnknownConfigField` (never dropped silently)."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    merged = {**training_kwargs(ctx), **stage_fields}
    if ctx.device == "cpu" and "pad_to_multiple_of" in known:
        merged.setdefault("pad_to_multiple_of", CPU_PAD_MULTIPLE)  # runner.train.hostmem
    unknown = sorted(set(merged) - known)
    if unknown:
        raise UnknownConfigField(
            f"{config_cls.__name__} has no field {', '.join(unknown)} (renamed in this trl?)"
        )
    return config_cls(**merged)


def point_tensorboard(ctx: StageContext) -> None:
    """Send TensorBoard logs to ``<run_dir>/tensorboard``.

    transformers 5 dropped ``TrainingArguments.logging_dir``; its TensorBoard callback reads
    ``$TENSORBOARD_LOGGING_DIR`` when the trainer is built, so the worker (a process of its
    own, one run) sets it just before. Without it the logs would land in ``checkpoints/``.
    """
    if "tensorboard" in ctx.recipe.report_to:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(ctx.run_dir / "tensorboard")


def make_trainer(
    trainer_cls: type, config_cls: type, ctx: StageContext, **stage_fields: Any
) -> Any:
    """A trl trainer on the context's model, data, tokenizer, adapter and callbacks, with its
    config from `make_config`: every stage builds its trainer the same way, and every
    trainer samples its longest batch first (`runner.train.ordering`)."""
    args = make_config(config_cls, ctx, **stage_fields)
    point_tensorboard(ctx)
    return longest_first(trainer_cls)(
        model=ctx.model,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=ctx.tokenizer,
        peft_config=ctx.peft_config,
        callbacks=ctx.callbacks,
    )
