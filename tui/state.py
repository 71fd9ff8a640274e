"""The wizard's single source of truth: every choice lives here, not in widgets.

Screens read their initial values from `WizardState` and write every change straight back,
so going back and forth (Esc / ctrl+n) never loses what was typed, and the recipe, the plan
request and the equivalent ``tunetui init --headless`` line are all derived from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunetui.runner.recipe import DEFAULT_MODEL, Recipe

METHODS = ("lora", "qlora", "dora", "full", "freeze")
STAGES = ("sft", "pt", "dpo", "kto", "orpo", "rm")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "cosine_with_min_lr")
OPTIMIZERS = ("adamw", "adamw_8bit", "paged_adamw", "sgd", "galore")
LOGGERS = ("none", "tensorboard", "wandb", "mlflow")


@dataclass
class WizardState:
    """Everything the user chose so far. Defaults equal the recipe schema's defaults."""

    # hardware: the GPU planned for (probed or picked from the catalog)
    gpu_name: str | None = None
    gpu_memory_gib: float | None = None
    gpu_key: str | None = None  # catalog key when planning for a GPU we do not have
    gpu_count: int = 1
    # model
    model: str = DEFAULT_MODEL
    # data
    stage: str = "sft"
    datasets: list[str] = field(default_factory=lambda: ["identity"])
    dataset_dir: str | None = None
    template: str = "auto"
    cutoff_len: int = 1024
    # method
    method: str = "lora"
    bits: int | None = None
    lora_rank: int = 8
    batch_size: int = 2
    grad_accum: int = 4
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"
    # training
    name: str = "run"
    epochs: float = 1.0
    max_steps: int | None = None
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    eval_steps: int | None = None
    save_steps: int = 100
    val_size: float = 0.0
    output_dir: str | None = None
    report_to: list[str] = field(default_factory=lambda: ["none"])
    # where the review screen saves the recipe
    recipe_path: str = "recipe.yaml"

    def set_method(self, method: str) -> None:
        """QLoRA implies 4-bit unless 8 was chosen; other methods have no quantized base."""
        self.method = method
        if method == "qlora":
            self.bits = self.bits or 4
        else:
            self.bits = None

    def apply_recommendation(self, rec: dict[str, Any]) -> None:
        """Take the recommender's settings (keys as in `tunetui plan --json`)."""
        if rec.get("method") in METHODS:
            self.set_method(str(rec["method"]))
        if rec.get("bits") in (4, 8) and self.method == "qlora":
            self.bits = int(rec["bits"])
        for key in ("lora_rank", "batch_size", "grad_accum"):
            if isinstance(rec.get(key), int) and rec[key] >= 1:
                setattr(self, key, rec[key])
        if isinstance(rec.get("seq_len"), int) and rec["seq_len"] >= 16:
            self.cutoff_len = rec["seq_len"]
        if isinstance(rec.get("gradient_checkpointing"), bool):
            self.gradient_checkpointing = rec["gradient_checkpointing"]
        if rec.get("optimizer") in OPTIMIZERS:
            self.optimizer = str(rec["optimizer"])

    def flag_options(self) -> dict[str, Any]:
        """These choices as `tunetui init --headless` options (names of `runner.flags`)."""
        return {
            "name": self.name,
            "model": self.model,
            "stage": self.stage,
            "method": self.method,
            "dataset": list(self.datasets),
            "dataset_dir": self.dataset_dir,
            "template": self.template,
            "cutoff_len": self.cutoff_len,
            "val_size": self.val_size,
            "rank": self.lora_rank,
            "bits": self.bits,
            "epochs": self.epochs,
            "max_steps": self.max_steps,
            "lr": self.learning_rate,
            "scheduler": self.lr_scheduler,
            "batch": self.batch_size,
            "grad_accum": self.grad_accum,
            "grad_ckpt": self.gradient_checkpointing,
            "optim": self.optimizer,
            "save_steps": self.save_steps,
            "eval_steps": self.eval_steps,
            "output_dir": self.output_dir,
            "report_to": list(self.report_to),
        }

    def to_recipe(self) -> Recipe:
        """The recipe these choices describe, built exactly as `init --headless` builds it.

        Going through `runner.flags.recipe_from_flags` (no recommendation: every size is
        chosen here) guarantees the wizard and the headless path write the same file.
        Raises `UserError` for a value the schema refuses.
        """
        try:
            from tunetui.runner.flags import recipe_from_flags
        except ImportError:  # older tree: same fields straight into the schema
            return self._recipe_direct()
        return recipe_from_flags(recommend=False, **self.flag_options())

    def _recipe_direct(self) -> Recipe:
        return Recipe.model_validate(
            {
                "name": self.name,
                "stage": self.stage,
                "method": self.method,
                "model": {"name_or_path": self.model},
                "data": {
                    "datasets": list(self.datasets),
                    "dataset_dir": self.dataset_dir,
                    "template": self.template,
                    "cutoff_len": self.cutoff_len,
                    "val_size": self.val_size,
                },
                "lora": {"rank": self.lora_rank},
                "quantization": {"bits": self.bits},
                "training": {
                    "epochs": self.epochs,
                    "max_steps": self.max_steps,
                    "learning_rate": self.learning_rate,
                    "lr_scheduler": self.lr_scheduler,
                    "batch_size": self.batch_size,
                    "grad_accum": self.grad_accum,
                    "gradient_checkpointing": self.gradient_checkpointing,
                    "optimizer": self.optimizer,
                    "save_steps": self.save_steps,
                    "eval_steps": self.eval_steps,
                },
                "output_dir": self.output_dir,
                "report_to": list(self.report_to),
            }
        )

    def plan_options(self) -> dict[str, Any]:
        """The planner's inputs, under the names `tunetui plan` uses."""
        return {
            "model": self.model,
            "gpu": self.gpu_key or "auto",  # a probed GPU: the planner probes it itself
            "gpu_memory_gib": self.gpu_memory_gib,
            "num_gpus": self.gpu_count,
            "stage": self.stage,
            "method": self.method,
            "bits": self.bits,
            "lora_rank": self.lora_rank,
            "rank": self.lora_rank,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "seq_len": self.cutoff_len,
            "cutoff_len": self.cutoff_len,
            "gradient_checkpointing": self.gradient_checkpointing,
            "optimizer": self.optimizer,
            "epochs": self.epochs,
            "max_steps": self.max_steps,
        }


def headless_command(recipe: Recipe, path: str) -> str:
    """The ``tunetui init --headless …`` line that writes the same recipe.

    Uses the flags module's own builder (`runner.flags.command_line`) so the line is exactly
    what `init --headless` parses.
    """
    try:
        from tunetui.runner.flags import command_line
    except ImportError:
        return "tunetui init --headless (flags module not installed)"
    return command_line(recipe, output=path)
