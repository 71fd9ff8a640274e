"""A resumed run whose newest checkpoint is already its last step: write the outputs only.

A worker that dies after its final checkpoint but before its `end` event (killed while
saving the adapter, say) left a run that looks resumable. Resuming it used to train one
step past the schedule ("step 5/4", a negative ETA): the trainer, handed a finished
checkpoint, still ran a step. The checkpoint already holds the final weights, so the
outputs are copied from it, the attempt is recorded (`start`, then `end`), and nothing is
trained. Copying needs no torch, so this also works without loading the model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tunetui.runner.rundir import plan_gib, read_json, replace_folder

# What a trainer checkpoint holds besides the model, tokenizer and config.
TRAINER_FILES = ("optimizer.pt", "scheduler.pt", "trainer_state.json", "training_args.bin")


def finished_step(checkpoint: Path | None) -> int | None:
    """The checkpoint's step when it is the schedule's last one, else None."""
    if checkpoint is None:
        return None
    state = read_json(checkpoint / "trainer_state.json")
    step, last = state.get("global_step"), state.get("max_steps")
    if isinstance(step, int) and isinstance(last, int) and 0 < last <= step:
        return step
    return None


def write_outputs(checkpoint: Path, final: Path) -> Path:
    """Copy the model part of `checkpoint` to `final` (atomically: a temp folder renamed)."""
    tmp = final.parent / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(
        checkpoint,
        tmp,
        ignore=lambda _dir, names: [
            n for n in names if n in TRAINER_FILES or n.startswith("rng_state")
        ],
    )
    return replace_folder(tmp, final)


def finish(writer: Any, run_dir: Path, checkpoint: Path, step: int, output_name: str) -> int:
    """Record this attempt and write the outputs from `checkpoint`; the worker's exit code.
    Only rank 0 writes (every rank sees the same checkpoint and returns at once)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    note = f"checkpoint-{step} is the schedule's last step: writing the outputs, no training"
    writer.emit("start", step=step, total_steps=step, resumed_from=str(checkpoint), notes=[note])
    print(note, flush=True)
    output = write_outputs(checkpoint, run_dir / output_name)
    writer.emit("end", step=step, metrics={}, plan_gib=plan_gib(run_dir), output=str(output))
    print(f"Done: {step} steps. Output: {output}", flush=True)
    return 0
