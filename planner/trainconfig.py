"""One training configuration (`TrainConfig`, validated on construction) and the planner's
answer (`Estimate`): the types the estimator, the recommender, the overhead model and the
bench share, kept apart from the arithmetic so that each module stays readable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tunetui.options import (
    ATTENTIONS,
    LOSS_IMPLS,
    METHODS,
    OPTIMIZERS,
    PARALLELS,
    STAGES,
    TARGET_PRESETS,
    default,
)
from tunetui.options import PRECISIONS as ALL_PRECISIONS

from .errors import UserError, unknown
from .stack import installed_kbit_saves_inputs

GIB = float(2**30)

# The choices are the option vocabulary's (tunetui.options); "auto" precision is resolved
# before the check, so only concrete dtypes are left.
PRECISIONS = tuple(p for p in ALL_PRECISIONS if p != "auto")
FLASH = "flash_attention_2"
ATTN_ALIASES = {"flash": FLASH, "flash_attention": FLASH, "fa2": FLASH}


@dataclass(frozen=True)
class TrainConfig:
    """One training configuration. Invalid combinations raise UserError on construction.

    Defaults are the option vocabulary's (`tunetui.options`), the same ones the runner
    trains with, so a plan and a run of the same recipe cannot disagree by default.
    """

    method: str = "lora"
    bits: int | None = None  # None: 4 for qlora, 16 otherwise
    lora_rank: int = default("rank")
    targets: str | tuple[str, ...] = "all"  # all | attn | qv | module names
    lora_dropout: float = default("dropout")
    freeze_layers: int = 2  # method=freeze: train the last N decoder layers
    batch_size: int = 1  # per device
    grad_accum: int = 1
    seq_len: int = 1024
    gradient_checkpointing: bool = False
    optimizer: str = default("optim")
    precision: str = "bf16"  # bf16 | fp16 | fp32 | auto (the recipe's default)
    attn: str = "sdpa"
    stage: str = "sft"
    n_gpus: int = 1
    parallel: str = "none"
    # zero3/fsdp `offload: cpu`: sharded weights, gradients and optimizer states live in host
    # RAM (ZeRO-Offload / FSDP CPUOffload); the GPU holds the layers being computed
    offload: str = "none"
    # bf16 checkpoints load in bf16 (transformers 5 dtype="auto") and train in place: bf16
    # weights, grads and AdamW states. None = that for bf16; fp16 needs fp32 master weights.
    pure_bf16: bool | None = None
    double_quant: bool = True
    # peft.prepare_model_for_kbit_training upcasts every non-quantised param to fp32;
    # tunetui's runner calls it for QLoRA (runner/methods.py), so on by default
    upcast_non_quantized: bool = True
    # hf: logits in bf16, upcast to fp32 for the loss (transformers' ForCausalLMLoss);
    # chunked: bf16 logits, loss per chunk (torchtune CEWithChunkedOutputLoss, LitGPT);
    # fused: logits never materialised beyond one chunk (Liger fused linear cross-entropy)
    loss_impl: str = "hf"
    optimizer_in_backward: bool = False  # step each param as its grad lands (torchtune)
    activation_offloading: bool = False  # checkpointed layer inputs live in host RAM
    # bitsandbytes' MatMul4Bit kept its input for backward before 0.43.2 (ctx.tensors =
    # (A, B)); later releases keep only the packed weight. None: read the installed version
    # (planner.stack; not installed -> the conservative answer, True)
    kbit_saves_inputs: bool | None = None
    # q/k/v come from one fused linear and split into views (LitGPT's CausalSelfAttention):
    # the unroped v keeps the whole qkv output alive while attention holds it
    fused_qkv: bool = False
    device: str = "cuda"  # cuda | cpu
    compute_capability: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        _check(self)

    @property
    def weight_bits(self) -> int:
        if self.bits is not None:
            return self.bits
        return 4 if self.method == "qlora" else 16

    @property
    def is_adapter(self) -> bool:
        return self.method in ("lora", "dora", "qlora")

    @property
    def pure(self) -> bool:
        if self.pure_bf16 is not None:
            return self.pure_bf16
        return self.precision == "bf16"

    def replace(self, **changes: object) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        data = {**asdict(self), **changes}
        return TrainConfig(**data)  # type: ignore[arg-type]


def _check(c: TrainConfig) -> None:
    if c.precision == "auto":  # the recipe's default: what the trainer would pick here
        cc = c.compute_capability
        auto = "fp32" if c.device == "cpu" else ("fp16" if cc and cc[0] < 8 else "bf16")
        object.__setattr__(c, "precision", auto)
    choices = {
        "method": (c.method, METHODS),
        "optimizer": (c.optimizer, OPTIMIZERS),
        "precision": (c.precision, PRECISIONS),
        "stage": (c.stage, STAGES),
        "parallel": (c.parallel, PARALLELS),
        "device": (c.device, ("cuda", "cpu")),
    }
    for kind, (value, allowed) in choices.items():
        if value not in allowed:
            raise unknown(kind, str(value), allowed)
    attn = ATTN_ALIASES.get(c.attn, c.attn)
    if attn not in ATTENTIONS:
        raise unknown("attention implementation", c.attn, ATTENTIONS)
    object.__setattr__(c, "attn", attn)
    if isinstance(c.targets, str) and c.targets not in TARGET_PRESETS:
        raise unknown("LoRA targets", c.targets, TARGET_PRESETS)
    if isinstance(c.targets, list):
        object.__setattr__(c, "targets", tuple(c.targets))
    if c.bits not in (None, 4, 8, 16):
        raise UserError(f"--bits {c.bits} is not supported", "Use --bits 4, 8 or 16")
    if c.bits in (4, 8) and c.method in ("full", "freeze"):
        raise UserError(
            f"--bits {c.bits} cannot train with --method {c.method}: quantised weights are frozen",
            "Use --method qlora (or lora/dora) with --bits 4/8, or --bits 16 for full training",
        )
    if c.method == "qlora" and c.bits == 16:
        raise UserError("--method qlora needs --bits 4 or 8", "Use --method lora for 16-bit LoRA")
    positive = {
        "--rank": c.lora_rank,
        "--batch": c.batch_size,
        "--seq": c.seq_len,
        "--gpus": c.n_gpus,
        "grad_accum": c.grad_accum,
        "freeze_layers": c.freeze_layers,
    }
    for flag, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise UserError(f"{flag} must be a positive integer, got {value}", f"Pass {flag} >= 1")
    if c.offload != "none" and c.parallel not in ("zero3", "fsdp"):
        raise UserError(
            f"offload {c.offload} needs --parallel zero3 or fsdp (got {c.parallel})",
            "Pass --parallel zero3 (or fsdp) with --offload cpu, or drop --offload",
        )
    if c.loss_impl not in LOSS_IMPLS:
        raise unknown("loss implementation", c.loss_impl, LOSS_IMPLS)
    if not 0.0 <= c.lora_dropout < 1.0:
        raise UserError(f"LoRA dropout {c.lora_dropout} is out of range", "Use 0 <= dropout < 1")
    if c.kbit_saves_inputs is None:
        saves = c.weight_bits < 16 and installed_kbit_saves_inputs()
        object.__setattr__(c, "kbit_saves_inputs", saves)
    if c.precision == "fp16" and c.pure_bf16:
        raise UserError("pure bf16 was asked for with fp16 precision", "Use --precision bf16")


@dataclass
class Estimate:
    """Peak memory per GPU (GiB). ``breakdown_gib`` sums to ``total_gib``."""

    allocated_gib: float
    reserved_gib: float
    total_gib: float
    breakdown_gib: dict[str, float]
    trainable_params: int
    device: str = "cuda"
    peak_phase: str = "forward"  # forward | optimizer
    notes: list[str] = field(default_factory=list)
    host_offload_gib: float = 0.0  # offload cpu: host RAM for all ranks of one machine

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        for key in ("allocated_gib", "reserved_gib", "total_gib", "host_offload_gib"):
            out[key] = round(out[key], 3)
        out["breakdown_gib"] = {k: round(v, 3) for k, v in self.breakdown_gib.items()}
        return out
