"""What a recipe needs installed, and the trainer constraints it can break, checked at launch.

Each of these used to surface 12-21 s after `tunetui run`, inside the worker, some as a
library's raw traceback: GaLore without galore-torch, `report_to: wandb` without wandb, a
GPTQ/AWQ base without its kernels, KTO with a batch of one. They are all knowable from the
recipe and the model's config.json alone, so `check_requirements` runs in the launcher
before a run folder exists (exit 2, one line naming the extra to install) and again first
thing in the worker (a recipe edited by hand in a run folder). No torch: only
``importlib.util.find_spec``.

Light module.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.modelpath import EMBEDDED, locate_model
from tunetui.runner.recipe import Recipe

# module to find -> (what needs it, the tunetui extra that installs it)
_LOGGERS = {"tensorboard": "log", "wandb": "wandb", "mlflow": "mlflow"}
_OPTIMIZER_MODULES = {
    "adamw_8bit": ("bitsandbytes", "train"),
    "paged_adamw": ("bitsandbytes", "train"),
    "galore": ("galore_torch", "galore"),
}
# quantization_config.quant_method of a pre-quantized base -> modules (any one) and extra
_QUANTIZED_BASES = {
    "gptq": (("gptqmodel", "auto_gptq"), "gptq"),
    "awq": (("awq",), "awq"),
    "aqlm": (("aqlm",), "aqlm"),
}
# transformers loads GPTQ bases through optimum as well as the kernels
_ALSO_NEEDED = {"gptq": "optimum"}
PACKING_STAGES = ("sft", "pt")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _missing(what: str, package: str, extra: str, instead: str) -> UserError:
    return UserError(
        f"{what} needs {package}, which is not installed",
        f"Install it with `pip install 'tunetui[{extra}]'`, or {instead}",
    )


def check_requirements(recipe: Recipe) -> None:
    """Raise `UserError` for the first thing this recipe needs that is missing or invalid."""
    check_qlora_backend(recipe)
    check_optimizer(recipe)
    check_loggers(recipe.report_to)
    _check_trainer_constraints(recipe)
    _check_quantized_base(recipe)


def check_qlora_backend(recipe: Recipe) -> None:
    """QLoRA quantizes through bitsandbytes."""
    if recipe.method == "qlora" and not _installed("bitsandbytes"):
        raise _missing("method qlora", "bitsandbytes", "train", "use method: lora")


def check_optimizer(recipe: Recipe) -> None:
    """The optimizer's package, and GaLore's need for full weight matrices."""
    optimizer = recipe.training.optimizer
    if optimizer == "galore" and recipe.is_peft:  # installing galore-torch would not help
        raise UserError(
            f"optimizer galore trains full weight matrices, not {recipe.method} adapters",
            "Use method: full (or freeze) with galore, or optimizer: adamw",
        )
    if optimizer in _OPTIMIZER_MODULES:
        module, extra = _OPTIMIZER_MODULES[optimizer]
        if not _installed(module):
            package = module.replace("_", "-")
            raise _missing(f"optimizer {optimizer}", package, extra, "use optimizer: adamw")


def check_loggers(report_to: list[str]) -> list[str]:
    """The recipe's loggers (minus "none"), each checked to be installed: transformers
    would otherwise fail deep inside the trainer with an import error."""
    loggers = [x for x in report_to if x != "none"]
    for logger in loggers:
        if logger in _LOGGERS and not _installed(logger):
            raise _missing(f"report_to: {logger}", logger, _LOGGERS[logger], "remove it")
    return loggers


def _check_trainer_constraints(recipe: Recipe) -> None:
    """Constraints trl enforces only once the trainer is built."""
    t = recipe.training
    if recipe.stage == "kto" and t.batch_size < 2:
        raise UserError(
            "stage kto needs a batch of 2 or more per device (its KL term compares each "
            "example with the others in its batch)",
            "Set training.batch_size: 2 (lower grad_accum to keep the effective batch)",
        )
    if recipe.data.packing and recipe.stage not in PACKING_STAGES:
        raise UserError(
            f"data.packing works for stages {', '.join(PACKING_STAGES)}, not {recipe.stage} "
            "(pairs and labels cannot be packed)",
            "Set data.packing: false",
        )


def quantized_base(name_or_path: str) -> str | None:
    """The quant_method of a pre-quantized base model (gptq, awq, ...), or None."""
    if name_or_path.strip().lower() in EMBEDDED:
        return None
    try:
        config = json.loads((Path(locate_model(name_or_path)) / "config.json").read_text())
    except (OSError, ValueError, UserError):
        return None  # a missing or unreadable model is check_model's to report
    method = (config.get("quantization_config") or {}).get("quant_method")
    return str(method).lower() if method else None


def _check_quantized_base(recipe: Recipe) -> None:
    method = quantized_base(recipe.model.name_or_path)
    if method is None or method not in _QUANTIZED_BASES:
        return
    if not recipe.is_peft:
        raise UserError(
            f"the model is {method.upper()}-quantized: its weights cannot be "
            f"{recipe.method}-fine-tuned",
            "Use method: lora (adapters on the quantized base)",
        )
    modules, extra = _QUANTIZED_BASES[method]
    also = _ALSO_NEEDED.get(method)
    if not any(_installed(m) for m in modules) or (also and not _installed(also)):
        needs = " or ".join(modules) + (f" and {also}" if also else "")
        raise _missing(f"a {method.upper()}-quantized base", needs, extra,
                       "use the unquantized model")  # fmt: skip


def attention_fallback(requested: str, device: str) -> str | None:
    """Why flash_attention_2 cannot be used here (the run falls back to sdpa), or None."""
    if requested != "flash_attention_2":
        return None
    if device != "cuda":
        return "flash_attention_2 needs a CUDA GPU: training uses sdpa"
    if not _installed("flash_attn"):
        return "flash_attention_2 is not installed (pip install flash-attn): training uses sdpa"
    return None


def liger_fallback(recipe: Recipe) -> str | None:
    """Why the Liger kernels the recipe asks for will not be used, or None."""
    if recipe.model.liger_kernel and not _installed("liger_kernel"):
        return "model.liger_kernel is on but liger-kernel is not installed: training without it"
    return None


def sharding_fallback(recipe: Recipe, device: str) -> str | None:
    """accelerate shards (FSDP) only on GPUs: CPU processes run DDP, a whole copy each."""
    if device == "cpu" and recipe.distributed.strategy == "fsdp":
        return (
            "strategy fsdp on CPU: accelerate shards only on GPUs, so every process trains a "
            "whole copy (DDP over gloo)"
        )
    return None


def fallback_warnings(recipe: Recipe, device: str) -> list[str]:
    """What the run will do differently from what the recipe asks, on `device`: shown by
    the console, the dashboard (as `warning` events) and the wizard's review step, not
    only in train.log where nobody looks."""
    found = (
        attention_fallback(recipe.model.attn_implementation, device),
        liger_fallback(recipe),
        sharding_fallback(recipe, device),
    )
    return [w for w in found if w]
