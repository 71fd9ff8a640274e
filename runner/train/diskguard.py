"""A full disk stops a run cleanly, with the last good checkpoint kept and one clear line.

Saving a checkpoint on a full disk used to end in torch's "RuntimeError: [enforce fail at
inline_container.cc] unexpected pos", which says nothing about the disk, and could leave
a half-written checkpoint behind. Two guards:

- before each save, `DiskGuard` compares the free space of the checkpoint folder with the
  size of a checkpoint (the last one written, else an estimate from the model) and, when
  it will not fit, stops training without saving and records why;
- a save that fails anyway (another process filled the disk meanwhile) is recognised
  (ENOSPC, or torch's serialization errors) by `explain`, the partial checkpoint is
  removed, and the worker reports "disk full at PATH: N MB free".

The last complete checkpoint is never touched: the trainer rotates old checkpoints only
after a new one is complete, and a partial one has no trainer_state.json, so `--resume`
skips it even before it is removed.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from tunetui.planner.errors import UserError
from tunetui.runner.rundir import folder_bytes

# torch's messages when its zip writer runs out of space mid-file
_TORCH_FULL = ("unexpected pos", "PytorchStreamWriter failed", "file write failed")
FIX = "Free space there (or set training.save_total_limit lower), then `tunetui run --resume`"


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def estimate_bytes(model: Any) -> int:
    """A checkpoint's size from the model: trainable weights in fp32 plus two Adam states
    (12 bytes a parameter), plus the frozen weights when the whole model is saved."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
    full = not hasattr(model, "peft_config")
    return trainable * 12 + (frozen if full else 0)


class DiskGuard(TrainerCallback):
    """Stops training before a save that would not fit (see the module docstring)."""

    def __init__(self, checkpoints: Path) -> None:
        self.checkpoints = checkpoints
        self.needed = 0
        self.problem: UserError | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        if model is not None:
            self.needed = estimate_bytes(model)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if not control.should_save:
            return
        done = sorted(self.checkpoints.glob("checkpoint-*/trainer_state.json"))
        if done:
            self.needed = folder_bytes(done[-1].parent)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.checkpoints).free
        if free < self.needed * 1.1:  # 10% for the tokenizer, states' headers, rounding
            control.should_save = False
            control.should_training_stop = True
            self.problem = UserError(
                f"disk full at {self.checkpoints}: {_mb(free)} free, the checkpoint of step "
                f"{state.global_step} needs about {_mb(self.needed)}; stopped without saving it",
                FIX,
            )


def explain(exc: BaseException, checkpoints: Path) -> UserError | None:
    """A save that failed for lack of space, as one line; the partial checkpoint removed."""
    text = str(exc)
    full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    if not full and not any(marker in text for marker in _TORCH_FULL):
        return None
    for partial in checkpoints.glob("checkpoint-*"):
        if not (partial / "trainer_state.json").is_file():
            shutil.rmtree(partial, ignore_errors=True)
    free = shutil.disk_usage(checkpoints if checkpoints.exists() else checkpoints.parent).free
    return UserError(f"disk full at {checkpoints}: {_mb(free)} free", FIX)
