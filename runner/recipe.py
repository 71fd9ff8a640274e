"""The recipe: everything a run needs, as a pydantic schema stored as readable YAML.

A recipe is what the wizard writes, what ``tunetui init --headless`` writes from flags, what
``tunetui import-lf`` converts to, and what ``tunetui run`` trains. The resolved copy in a
run directory is the record of what ran. Unknown keys are errors (``extra="forbid"``) so a
typo'd key is caught, with a close-match suggestion, instead of being silently ignored.

Loading and saving with user-facing errors lives in `tunetui.runner.recipe_io`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_MODEL = "smollm2-135m"

Stage = Literal["sft", "pt", "dpo", "kto", "orpo", "rm"]
Method = Literal["full", "freeze", "lora", "dora", "qlora"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
Optimizer = Literal["adamw", "adamw_8bit", "paged_adamw", "sgd", "galore"]
Attention = Literal["sdpa", "flash_attention_2", "eager"]
Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr"]
Logger = Literal["none", "tensorboard", "wandb", "mlflow"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _comma_list(value: object) -> object:
    """`a,b` -> ['a', 'b']: hand-written YAML (and LLaMA-Factory habit) lists with commas."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ModelSection(_Section):
    name_or_path: str = Field(DEFAULT_MODEL, description="embedded id or local HF directory")
    trust_remote_code: bool = False
    attn_implementation: Attention = "sdpa"
    liger_kernel: bool = Field(False, description="use Liger kernels when installed")


class DataSection(_Section):
    datasets: list[str] = Field(default_factory=lambda: ["identity"])
    dataset_dir: str | None = Field(None, description="folder with dataset_info.json")
    template: str = Field("auto", description="auto = the tokenizer's chat_template")
    cutoff_len: int = Field(1024, ge=16)
    packing: bool = False
    val_size: float = Field(0.0, ge=0.0, lt=1.0)
    max_samples: int | None = Field(None, ge=1)
    train_on_prompt: bool = Field(False, description="False = loss on responses only")
    mask_history: bool = Field(
        False, description="True = learn only the last answer of a conversation, not every turn"
    )
    _datasets_list = field_validator("datasets", mode="before")(_comma_list)

    placeholders: dict[str, str] = Field(
        default_factory=lambda: {"name": "tunetui", "author": "the tunetui team"},
        description="values for {{key}} placeholders in the data (the identity dataset)",
    )


class LoraSection(_Section):
    rank: int = Field(8, ge=1, le=4096)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    targets: str | list[str] = Field("all", description="all | attn | qv | module names")


class FreezeSection(_Section):
    trainable_layers: int = Field(2, ge=1, description="train the last N decoder layers")
    train_embeddings: bool = False


class QuantSection(_Section):
    bits: Literal[4, 8] | None = None
    double_quant: bool = True
    quant_type: Literal["nf4", "fp4"] = "nf4"
    compute_dtype: Literal["bf16", "fp16", "fp32"] = "bf16"


class TrainingSection(_Section):
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="overrides epochs when set")
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: Scheduler = "cosine"
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    batch_size: int = Field(2, ge=1, description="per device")
    grad_accum: int = Field(4, ge=1)
    gradient_checkpointing: bool = False
    precision: Precision = "auto"
    optimizer: Optimizer = "adamw"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, ge=0.0)
    seed: int = 42
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(100, ge=1)
    eval_steps: int | None = Field(None, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    pref_beta: float = Field(0.1, gt=0, description="beta for DPO/KTO/ORPO")


class Recipe(_Section):
    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    stage: Stage = "sft"
    method: Method = "lora"
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    freeze: FreezeSection = Field(default_factory=FreezeSection)
    quantization: QuantSection = Field(default_factory=QuantSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    output_dir: str | None = Field(None, description="default: runs/<name>")
    report_to: list[Logger] = Field(default_factory=lambda: ["none"])

    _report_to_list = field_validator("report_to", mode="before")(_comma_list)

    @model_validator(mode="after")
    def _method_implies_bits(self) -> Recipe:
        # QLoRA means quantized base weights; default to 4-bit NF4 when bits are unset.
        if self.method == "qlora" and self.quantization.bits is None:
            self.quantization.bits = 4
        if self.method != "qlora" and self.quantization.bits is not None:
            raise ValueError(
                f"quantization.bits={self.quantization.bits} needs method: qlora "
                f"(method is {self.method})"
            )
        return self

    @property
    def is_peft(self) -> bool:
        return self.method in ("lora", "dora", "qlora")
