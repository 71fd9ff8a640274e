"""The recipe: everything a run needs, as a pydantic schema stored as readable YAML.

A recipe is what the wizard writes, what ``tunetui init --headless`` writes from flags, what
``tunetui import-lf`` converts to, and what ``tunetui run`` trains. The resolved copy in a
run directory is the record of what ran. Unknown keys are errors (``extra="forbid"``) so a
typo'd key is caught, with a close-match suggestion, instead of being silently ignored.

Loading and saving with user-facing errors lives in `tunetui.runner.recipe_io`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from tunetui.planner.errors import UserError

from tunetui.options import (
    ADAPTER_METHODS,
    ATTENTIONS,
    BITS,
    BY_NAME,
    DEFAULT_MODEL,
    LOGGERS,
    METHODS,
    OFFLOADS,
    OPTIMIZERS,
    PARALLELS,
    PRECISIONS,
    SCHEDULERS,
    STAGES,
    default_learning_rate,
)

__all__ = ["DEFAULT_MODEL", "Recipe"]

Stage = Literal[STAGES]  # type: ignore[valid-type]
Method = Literal[METHODS]  # type: ignore[valid-type]
Precision = Literal[PRECISIONS]  # type: ignore[valid-type]
Optimizer = Literal[OPTIMIZERS]  # type: ignore[valid-type]
Attention = Literal[ATTENTIONS]  # type: ignore[valid-type]
Scheduler = Literal[SCHEDULERS]  # type: ignore[valid-type]
Logger = Literal[LOGGERS]  # type: ignore[valid-type]
Bits = Literal[BITS]  # type: ignore[valid-type]
Parallel = Literal[PARALLELS]  # type: ignore[valid-type]
Offload = Literal[OFFLOADS]  # type: ignore[valid-type]


class FieldError(ValueError):
    """A field validator's `UserError`, carried through pydantic so the recipe's error line
    keeps its own problem and fix (`recipe_io` unwraps it)."""

    def __init__(self, error: UserError) -> None:
        super().__init__(error.problem)
        self.error = error


def opt(name: str, **extra: Any) -> Any:
    """The pydantic field of option `name`: its default, help and bounds come from
    `tunetui.options`, so the schema cannot drift from the flags, the wizard or the planner."""
    o = BY_NAME[name]
    if isinstance(o.default, list):
        value = list(o.default)
        return Field(default_factory=lambda: list(value), description=o.help, **o.bounds, **extra)
    return Field(o.default, description=o.help, **o.bounds, **extra)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _comma_list(value: object) -> object:
    """`a,b` -> ['a', 'b']: hand-written YAML (and LLaMA-Factory habit) lists with commas."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ModelSection(_Section):
    name_or_path: str = opt("model")
    trust_remote_code: bool = opt("trust_remote_code")
    attn_implementation: Attention = opt("attn")
    liger_kernel: bool = opt("liger")


class DataSection(_Section):
    datasets: list[str] = opt("dataset")
    dataset_dir: str | None = opt("dataset_dir")
    template: str = opt("template")

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str) -> str:
        """An unknown template is refused here, at the door, not by the worker minutes
        after a run folder exists (the names and aliases live with the templates)."""
        from tunetui.runner.data.templates import canonical_name

        try:
            canonical_name(value)
        except UserError as err:
            raise FieldError(err) from None
        return value

    cutoff_len: int = opt("cutoff_len")
    packing: bool = opt("packing")
    val_size: float = opt("val_size")
    max_samples: int | None = opt("max_samples")
    train_on_prompt: bool = opt("train_on_prompt")
    mask_history: bool = opt("mask_history")
    _datasets_list = field_validator("datasets", mode="before")(_comma_list)

    placeholders: dict[str, str] = Field(
        default_factory=lambda: {"name": "tunetui", "author": "the tunetui team"},
        description="values for {{key}} placeholders in the data (the identity dataset)",
    )


class LoraSection(_Section):
    rank: int = opt("rank")
    alpha: int = opt("alpha")
    dropout: float = opt("dropout")
    targets: str | list[str] = opt("targets")


class FreezeSection(_Section):
    trainable_layers: int = opt("trainable_layers")
    train_embeddings: bool = opt("train_embeddings")


class QuantSection(_Section):
    bits: Bits | None = opt("bits")
    double_quant: bool = True
    quant_type: Literal["nf4", "fp4"] = "nf4"
    compute_dtype: Literal["bf16", "fp16", "fp32"] = "bf16"


class TrainingSection(_Section):
    epochs: float = opt("epochs")
    max_steps: int | None = opt("max_steps")
    learning_rate: float = opt("lr")  # None: filled by stage and method
    lr_scheduler: Scheduler = opt("scheduler")
    warmup_ratio: float = opt("warmup_ratio")
    batch_size: int = opt("batch")
    grad_accum: int = opt("grad_accum")
    gradient_checkpointing: bool = opt("grad_ckpt")
    precision: Precision = opt("precision")
    optimizer: Optimizer = opt("optim")
    weight_decay: float = opt("weight_decay")
    max_grad_norm: float = opt("max_grad_norm")
    seed: int = opt("seed")
    logging_steps: int = opt("logging_steps")
    save_steps: int = opt("save_steps")
    eval_steps: int | None = opt("eval_steps")
    save_total_limit: int | None = opt("save_total_limit")
    pref_beta: float = opt("pref_beta")


class DistributedSection(_Section):
    """More than one process: how `runner.distributed` launches the worker (accelerate)."""

    strategy: Parallel = opt("parallel")
    num_processes: int | None = opt("gpus")  # None: every visible GPU
    offload: Offload = opt("offload")
    num_machines: int = opt("num_machines")
    machine_rank: int = opt("machine_rank")
    main_process_ip: str | None = opt("main_process_ip")
    main_process_port: int | None = opt("main_process_port")

    @model_validator(mode="after")
    def _consistent(self) -> DistributedSection:
        # Checked here so a bad combination is refused at the door, not by a launcher
        # that has already started processes on other machines.
        if self.offload != "none" and self.strategy not in ("zero3", "fsdp"):
            raise ValueError(
                f"offload: {self.offload} needs strategy zero3 or fsdp (strategy is "
                f"{self.strategy})"
            )
        if self.machine_rank >= self.num_machines:
            raise ValueError(
                f"machine_rank {self.machine_rank} is not below num_machines {self.num_machines}"
            )
        if self.num_machines > 1 and (self.strategy == "none" or not self.main_process_ip):
            raise ValueError(
                "num_machines > 1 needs a strategy (ddp, fsdp, zero2, zero3) and "
                "main_process_ip (machine 0's address)"
            )
        return self


class Recipe(_Section):
    name: str = opt("name", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    stage: Stage = opt("stage")
    method: Method = opt("method")
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    freeze: FreezeSection = Field(default_factory=FreezeSection)
    quantization: QuantSection = Field(default_factory=QuantSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    distributed: DistributedSection = Field(default_factory=DistributedSection)
    output_dir: str | None = opt("output_dir")
    report_to: list[Logger] = opt("report_to")

    _report_to_list = field_validator("report_to", mode="before")(_comma_list)

    @model_validator(mode="after")
    def _stage_and_method_defaults(self) -> Recipe:
        # QLoRA means quantized base weights; default to 4-bit NF4 when bits are unset.
        if self.method == "qlora" and self.quantization.bits is None:
            self.quantization.bits = 4
        if self.method != "qlora" and self.quantization.bits is not None:
            raise ValueError(
                f"quantization.bits={self.quantization.bits} needs method: qlora "
                f"(method is {self.method})"
            )
        # An unset learning rate follows the stage and method (DPO + LoRA: 5e-6, not the
        # SFT rate 40x higher), the same rule for a recipe file, the flags and the wizard.
        if self.training.learning_rate is None:
            self.training.learning_rate = default_learning_rate(self.stage, self.method)
        return self

    @property
    def is_peft(self) -> bool:
        return self.method in ADAPTER_METHODS
