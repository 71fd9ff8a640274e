"""Out-of-memory recovery: a run that runs out of GPU memory in a step does not die.

The longest batch comes first (`runner.train.ordering`), so an out-of-memory error comes in
the first seconds, when retrying costs little. Each retry saves what it can (a checkpoint
of the last finished step), frees the trainer, changes one thing and continues from the
newest checkpoint (issue 13 §2):

1. micro-batch above 1: halve it and double the accumulation (the same effective batch,
   so the same samples per optimizer step and the same learning-rate schedule);
2. at micro-batch 1: turn on gradient checkpointing;
3. then give up with a one-line error that names what to change.

Each retry is a ``warning`` event (``oom_retry`` fields) that every run view shows, and the
run's recipe.yaml is rewritten with the working settings, so a later ``--resume`` starts
from them instead of failing again.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tunetui.planner.errors import UserError
from tunetui.runner.rundir import find_checkpoint

if TYPE_CHECKING:
    from tunetui.runner.recipe import Recipe
    from tunetui.runner.train.worker import Worker

GIVE_UP_FIX = (
    "Lower data.cutoff_len (the first step is the longest batch), use method qlora, "
    "or a GPU with more memory; `tunetui doctor RECIPE` shows the plan for the longest batch"
)


def several_ranks() -> bool:
    """Under several ranks a retry on one would change its batch alone and leave the others
    waiting in a collective: an out-of-memory stops the run instead, with the same advice."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def next_setting(recipe: Recipe) -> str | None:
    """Change the recipe for the next try; what changed, or None when nothing is left."""
    t = recipe.training
    if t.batch_size > 1:
        t.batch_size, t.grad_accum = t.batch_size // 2, t.grad_accum * 2
        return f"batch {t.batch_size} x {t.grad_accum} accum"
    if not t.gradient_checkpointing:
        t.gradient_checkpointing = True
        return "batch 1 with gradient checkpointing"
    return None


def train(worker: Worker, recipe: Recipe, built: tuple[Any, Any, Any], checkpoint: Path | None):
    """``trainer.train``, retried on out-of-memory as the module docstring says; returns the
    (trainer, tokenizer, events callback) that finished (or stopped)."""
    trainer = built[0]
    while True:
        try:
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
            return built
        except torch.OutOfMemoryError as exc:
            step, was = trainer.state.global_step, _setting(recipe)
            change = None if several_ranks() else next_setting(recipe)
            if change is None:
                raise UserError(
                    f"out of GPU memory at step {step + 1} even with {was} ({_first(exc)})",
                    GIVE_UP_FIX,
                ) from exc
            _save_what_can_be_saved(trainer)
            built = trainer = None
            _free_memory()
            checkpoint = find_checkpoint(worker.run_dir)
            _announce(worker, recipe, step, was, change, checkpoint)
            built = worker.build_trainer(recipe, checkpoint)
            trainer = built[0]


def _setting(recipe: Recipe) -> str:
    t = recipe.training
    ckpt = " with gradient checkpointing" if t.gradient_checkpointing else ""
    return f"batch {t.batch_size} x {t.grad_accum} accum{ckpt}"


def _first(exc: BaseException) -> str:
    """torch's message up to its first sentence: 'CUDA out of memory. Tried to allocate …'."""
    return "; ".join(str(exc).split(". ")[:2]).rstrip(".")


def _save_what_can_be_saved(trainer: Any) -> None:
    """A checkpoint of the last finished optimizer step, when there is one to save (the
    failed step changed no weights: the error came before or inside its backward pass)."""
    step = trainer.state.global_step
    done = Path(trainer.args.output_dir) / f"checkpoint-{step}"
    if step == 0 or done.exists():
        return
    trainer.model.zero_grad(set_to_none=True)
    _free_memory()
    try:
        trainer._save_checkpoint(trainer.model, trial=None)
    except torch.OutOfMemoryError:
        print("warning: no memory left to save a checkpoint at the failed step", flush=True)


def _announce(
    worker: Worker, recipe: Recipe, step: int, was: str, change: str, checkpoint: Path | None
) -> None:
    from tunetui.runner.recipe_io import save_recipe

    save_recipe(recipe, worker.run_dir / "recipe.yaml", overwrite=True)
    start = f"from {checkpoint.name}" if checkpoint else "from step 0"
    message = f"out of GPU memory at step {step + 1} with {was}: retrying with {change} {start}"
    print(f"warning: {message}", flush=True)
    t = recipe.training
    worker.writer.emit(
        "warning", message=message, kind="oom_retry", step=step, batch_size=t.batch_size,
        grad_accum=t.grad_accum, gradient_checkpointing=t.gradient_checkpointing,
    )  # fmt: skip


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
