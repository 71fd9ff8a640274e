"""Training methods: what is trained (full, freeze, LoRA, DoRA, QLoRA) and with what
precision and optimizer.

The recipe names a method; this module turns it into the concrete objects the trainers
take: a load dtype, a ``BitsAndBytesConfig`` (QLoRA), a ``peft.LoraConfig`` (handed to the
trl trainer, which wraps the model itself and knows the QLoRA/DoRA dtype rules), requires_grad
flags (freeze), and ``TrainingArguments`` fields (bf16/fp16, optim, gradient checkpointing).

Everything heavy is imported inside functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.planner.probe import cpu_has_native_bf16
from tunetui.runner.recipe import Recipe
from tunetui.runner.requirements import check_optimizer, check_qlora_backend

# Attention projection names across common architectures (llama/qwen/mistral/gemma/phi,
# gpt2/falcon/gpt-neox, mpt).
_ATTN_NAMES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "qkv_proj",
    "query_key_value",
    "c_attn",
    "Wqkv",
    "out_proj",
)
_QV_NAMES = ("q_proj", "v_proj", "query_key_value", "c_attn", "qkv_proj", "Wqkv")

CPU_QLORA_NOTE = "QLoRA on CPU: 4-bit weights via bitsandbytes' CPU backend, slow"


def detect_device() -> str:
    """``cuda`` when a CUDA GPU is usable, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class PrecisionChoice:
    """The resolved precision: the dtype weights load in and the trainer's AMP flags."""

    name: str  # "bf16" | "fp16" | "fp32"
    load_dtype: Any  # torch dtype
    bf16: bool
    fp16: bool


def resolve_precision(recipe: Recipe, device: str) -> PrecisionChoice:
    """``auto``: bf16 on a CUDA GPU that supports it, else fp16 on CUDA; on CPU bf16 where
    the CPU has native bf16 (`cpu_has_native_bf16`), else fp32.

    bf16 on other CPUs only when asked (emulated, slower than fp32). fp16 on CPU is not
    supported by the trainer's AMP, so it is refused with a fix. Full and freeze training
    under fp16 keep fp32 master weights (GradScaler cannot unscale fp16 gradients).
    """
    import torch

    want = recipe.training.precision
    if want == "auto":
        if device == "cuda":
            want = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            want = "bf16" if cpu_has_native_bf16() else "fp32"
    if want == "fp16" and device != "cuda":
        raise UserError(
            "training.precision: fp16 needs a CUDA GPU (this machine has none)",
            "Use precision: auto (bf16 or fp32 on CPU) or bf16",
        )
    if want == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(
            "training.precision: bf16 is not supported by this GPU",
            "Use precision: fp16 or auto",
        )
    if want == "fp32":
        return PrecisionChoice("fp32", torch.float32, False, False)
    if want == "bf16":
        return PrecisionChoice("bf16", torch.bfloat16, True, False)
    load = torch.float32 if recipe.method in ("full", "freeze") else torch.float16
    return PrecisionChoice("fp16", load, False, True)


def quantization_config(recipe: Recipe, precision: PrecisionChoice, device: str) -> Any:
    """The bitsandbytes config for QLoRA (None for other methods)."""
    if recipe.method != "qlora":
        return None
    check_qlora_backend(recipe)
    import torch
    from transformers import BitsAndBytesConfig

    q = recipe.quantization
    if q.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[
        q.compute_dtype
    ]
    if device != "cuda" and compute == torch.float16:
        compute = torch.float32  # no fp16 matmuls on CPU
    if precision.name == "fp16" and compute == torch.bfloat16:
        compute = torch.float16  # a GPU without bf16
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q.quant_type,
        bnb_4bit_use_double_quant=q.double_quant,
        bnb_4bit_compute_dtype=compute,
        # FSDP shards parameters of one dtype: the packed 4-bit weights are stored in the
        # compute dtype then (as trl and peft document for QLoRA + FSDP), else in uint8
        bnb_4bit_quant_storage=compute if recipe.distributed.strategy == "fsdp" else torch.uint8,
    )


def method_notes(recipe: Recipe, device: str) -> list[str]:
    """Plain-language notes about what the method will do on this machine (train.log and
    the start event)."""
    notes = []
    if recipe.method == "qlora" and device != "cuda":
        bits = recipe.quantization.bits
        eight = "QLoRA on CPU: 8-bit weights via bitsandbytes' CPU backend, slow"
        notes.append(CPU_QLORA_NOTE if bits == 4 else eight)
    return notes


def linear_module_names(model: Any) -> set[str]:
    """The leaf names of the model's linear layers (incl. bitsandbytes ones), minus heads."""
    import torch

    names = set()
    for full, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in (
            "Linear4bit",
            "Linear8bitLt",
        ):
            leaf = full.rsplit(".", 1)[-1]
            if leaf not in ("lm_head", "score", "classifier"):
                names.add(leaf)
    return names


def lora_targets(targets: str | list[str], model: Any) -> str | list[str]:
    """Map the recipe's ``lora.targets`` to peft ``target_modules``.

    ``all`` -> every linear layer (peft's "all-linear"); ``attn`` -> the attention
    projections; ``qv`` -> query/value; a list or comma-separated names -> those modules,
    each checked against the model so a typo fails before training starts.
    """
    from tunetui.planner.errors import unknown

    available = linear_module_names(model)
    if isinstance(targets, str):
        key = targets.strip()
        if key == "all":
            return "all-linear"
        if key in ("attn", "qv"):
            wanted = _ATTN_NAMES if key == "attn" else _QV_NAMES
            found = sorted(n for n in available if n in wanted)
            if not found:
                raise UserError(
                    f"lora.targets: {key}: found no attention projections in this model "
                    f"(its linear layers: {', '.join(sorted(available))})",
                    "List the module names to adapt, e.g. targets: [q_proj, v_proj]",
                )
            return found
        names = [t.strip() for t in key.split(",") if t.strip()]
    else:
        names = [t.strip() for t in targets if t.strip()]
    for name in names:
        if name not in available and not _is_regex_hit(name, model):
            raise unknown("LoRA target module", name, sorted(available))
    return names


def _is_regex_hit(pattern: str, model: Any) -> bool:
    """Accept a full-name regex as peft does (``.*attn.*``); only if it is one."""
    if not any(c in pattern for c in "*[]().^$+?\\|"):
        return False
    try:
        rx = re.compile(pattern)
    except re.error:
        return False
    return any(rx.fullmatch(name) for name, _ in model.named_modules())


def peft_config(recipe: Recipe, model: Any, task: str = "causal") -> Any:
    """A ``peft.LoraConfig`` for lora/dora/qlora (None for full/freeze)."""
    if not recipe.is_peft:
        return None
    from peft import LoraConfig

    lora = recipe.lora
    return LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_targets(lora.targets, model),
        use_dora=recipe.method == "dora",
        bias="none",
        # SEQ_CLS makes peft keep the fresh reward head ("score") trainable and saved.
        task_type="SEQ_CLS" if task == "reward" else "CAUSAL_LM",
    )


def decoder_layers(model: Any) -> Any:
    """The model's list of decoder blocks (the longest ``nn.ModuleList``)."""
    import torch

    best = None
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and (best is None or len(module) > len(best)):
            best = module
    if best is None:
        raise UserError(
            "method freeze: could not find the model's decoder layers",
            "Use method: lora or full for this architecture",
        )
    return best


def apply_freeze(model: Any, recipe: Recipe) -> int:
    """Freeze everything but the last ``freeze.trainable_layers`` decoder layers (plus the
    embeddings/LM head if ``freeze.train_embeddings``, and a reward head if any); returns the
    number of trainable parameters."""
    layers = decoder_layers(model)
    n = recipe.freeze.trainable_layers
    if n > len(layers):
        raise UserError(
            f"freeze.trainable_layers is {n} but the model has {len(layers)} layers",
            f"Use a value from 1 to {len(layers)}",
        )
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = list(layers[len(layers) - n :])
    if recipe.freeze.train_embeddings:
        trainable += [model.get_input_embeddings(), model.get_output_embeddings()]
    for name in ("score", "classifier"):  # reward heads are new: they must learn
        head = getattr(model, name, None)
        if head is not None:
            trainable.append(head)
    for module in trainable:
        if module is not None:
            for p in module.parameters():
                p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def prepare_model(model: Any, recipe: Recipe, gradient_checkpointing: bool) -> Any:
    """Method-specific preparation of a loaded base model before the trainer wraps it.

    QLoRA: peft's ``prepare_model_for_kbit_training`` (fp32 norms, input grads);
    freeze: requires_grad flags; full/lora/dora: nothing (trl applies the LoRA config).
    """
    if recipe.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif recipe.method == "freeze":
        apply_freeze(model, recipe)
    return model


def fp32_trainables_without_bf16(model: Any, recipe: Recipe, precision: PrecisionChoice) -> int:
    """Cast QLoRA's trainable parameters back to fp32 when training without bf16 autocast.

    trl casts a quantized model's trainable parameters to bf16 (the QLoRA paper's choice),
    which is right under bf16 mixed precision. Without it (fp32 on CPU, fp16 on GPUs
    without bf16) a bf16 reward head or ``modules_to_save`` copy meets fp32 activations and
    the matmul fails; LoRA layers cast their input but those modules do not. The optimizer
    is created at ``train()``, so casting after the trainer is built is safe. Returns the
    number of tensors cast.
    """
    if recipe.method != "qlora" or precision.bf16:
        return 0
    import torch

    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.to(torch.float32)
            cast += 1
    return cast


def share_adapter_inputs(model: Any, recipe: Recipe, precision: PrecisionChoice) -> int:
    """Let LoRA adapters read the autocast input as it is, instead of an fp32 copy of it.

    peft casts each adapted linear's input to its adapter's dtype (fp32, ``autocast_adapter_dtype``)
    before ``lora_A``; under bf16/fp16 autocast that matmul casts it straight back to the
    half dtype, and autograd keeps the round-tripped copy for the adapter's weight gradient:
    one more activation per adapted linear, in memory and in time. Skipping the first cast
    gives bit-identical results (the half-precision input converts to fp32 and back exactly)
    and lets ``lora_A`` share the tensor the base linear already keeps. Measured on the CPU
    bench job (SmolLM2-135M, LoRA r8 on all linears, bf16): 4.5 MiB less per layer per
    1024 tokens, ~-0.23 GiB at the peak and +5-7% samples/s. Without autocast (fp32) the
    dtypes already agree and peft does nothing; DoRA's variant is left as peft runs it.
    Returns the number of LoRA layers changed.
    """
    if recipe.method not in ("lora", "qlora") or not (precision.bf16 or precision.fp16):
        return 0
    changed = 0
    for module in model.modules():
        if getattr(module, "cast_input_dtype_enabled", None) is True:
            module.cast_input_dtype_enabled = False
            changed += 1
    return changed


# transformers' ``optim`` names for the recipe's optimizers: one name, one implementation,
# on every device, so the planner (which charges foreach AdamW a one-state temporary in
# step() and fused AdamW none) plans what runs. torch >= 2.4 has fused AdamW on CPU too.
_OPTIM = {
    "adamw_fused": "adamw_torch_fused",
    "adamw": "adamw_torch",
    "adamw_8bit": "adamw_bnb_8bit",
    "paged_adamw": "paged_adamw_32bit",
    "sgd": "sgd",
    "galore": "galore_adamw",
}


def optimizer_args(recipe: Recipe, device: str) -> dict[str, Any]:
    """``TrainingArguments`` fields for the recipe's optimizer, checking what it needs."""
    name = recipe.training.optimizer
    check_optimizer(recipe)
    args: dict[str, Any] = {"optim": _OPTIM[name]}
    if name == "galore":
        args["optim_target_modules"] = [r".*attn.*", r".*mlp.*"]
    return args
