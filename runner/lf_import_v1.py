"""LLaMA-Factory's v1 recipe schema (``USE_V1=1``) rewritten as the v0 keys that
`tunetui.runner.lf_import.convert` reads, so one conversion (and one set of key tables)
serves both; every v1 key is rewritten or named in a warning with why it is not.

Light module: stdlib + PyYAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tunetui.planner.errors import UserError

# LLaMA-Factory v1 (USE_V1=1) keys -> the v0 keys the conversion reads.
_V1_KEYS = {
    "model": "model_name_or_path",
    "micro_batch_size": "per_device_train_batch_size",
    "r": "lora_rank",
    "target_modules": "lora_target",
}
# v1 keys with no effect on what tunetui trains, and why.
_V1_UNUSED = {
    "model_class": "only 'llm' (text models) is imported",
    "kernel_config": "tunetui picks its kernels itself (see model.liger_kernel)",
    "dist_config": "FSDP2/DeepSpeed sharding settings; tunetui plans its own parallelism",
    "sample_backend": "sampling after training is not part of a tunetui recipe",
    "max_new_tokens": "sampling after training is not part of a tunetui recipe",
    "batching_strategy": "tunetui batches by its own rules (data.packing)",
    "batching_workers": "data loading workers are tunetui's own",
}


def from_v1(v1: dict[str, Any], base: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """LLaMA-Factory's v1 schema (``model``, ``peft_config``, ``quant_config``,
    ``dist_config``, ``micro_batch_size``...) as the v0 keys `convert` reads, plus one
    warning per v1 key that is not converted (with why). `base` is the folder the v1
    ``train_dataset`` path is relative to (LLaMA-Factory's root)."""
    lf: dict[str, Any] = {"do_train": True}
    warn = [f"{key}: not converted ({why})" for key, why in _V1_UNUSED.items() if key in v1]
    if v1.get("model_class", "llm") != "llm":
        raise UserError(f"model_class '{v1['model_class']}' is not a text model",
                        "tunetui imports text (llm) recipes only")  # fmt: skip
    peft = dict(v1.get("peft_config") or {"name": "full"})
    lf["finetuning_type"] = peft.pop("name", "lora")
    quant = dict(v1.get("quant_config") or {})
    if quant:
        lf["quantization_bit"] = quant.pop("quantization_bit", 4)
        lf["quantization_method"] = {"auto": "bnb"}.get(quant.get("name"), quant.get("name"))
    for key in ("freeze_trainable_modules", "freeze_extra_modules"):
        if peft.get(key) not in (None, "all"):
            warn.append(f"peft_config.{key}: {peft[key]!r} not converted (tunetui's freeze "
                        "trains whole layers)")  # fmt: skip
        peft.pop(key, None)
    for key, value in [*peft.items(), *v1.items()]:
        if key not in _V1_UNUSED and key not in ("peft_config", "quant_config", "train_dataset"):
            lf[_V1_KEYS.get(key, key)] = value
    if "enable_activation_checkpointing" in lf:  # v1's name; on by default there too
        lf["disable_gradient_checkpointing"] = not lf.pop("enable_activation_checkpointing")
    if v1.get("global_batch_size") and v1.get("micro_batch_size"):
        lf["gradient_accumulation_steps"] = max(
            1, v1["global_batch_size"] // v1["micro_batch_size"]
        )
        lf.pop("global_batch_size", None)
    _v1_data(v1.get("train_dataset"), base, lf, warn)
    return lf, warn


def _v1_data(path: Any, base: Path | None, lf: dict[str, Any], warn: list[str]) -> None:
    """v1's ``train_dataset`` (a YAML of name -> {path, source}) as dataset files, and the
    stage its name implies (v1 recipes name none: the data's kind decides)."""
    if not path:
        return
    stem = Path(str(path)).stem
    lf["stage"] = next((s for s in ("dpo", "kto", "rm") if s in stem), "sft")
    # LLaMA-Factory paths are relative to its root: the data folder's parent, or a few
    # folders above an examples/v1/<kind>/ recipe; or the file sits in the data folder.
    bases = [base, *list(base.parents)[:3]] if base is not None else []
    found = [f for b in bases for f in (b / str(path), b / Path(str(path)).name) if f.is_file()]
    entries = yaml.safe_load(found[0].read_text(encoding="utf-8")) if found else None
    if not isinstance(entries, dict):
        warn.append(f"train_dataset: {path} not found next to the recipe, so its datasets are "
                    "not converted; set data.datasets")  # fmt: skip
        return
    files = []
    for name, entry in entries.items():
        local = isinstance(entry, dict) and entry.get("source", "local") == "local"
        file = found[0].parent / Path(str(entry.get("path"))).name if local else None
        if file is not None and file.is_file():
            files.append(str(file.resolve()))
        else:
            warn.append(f"train_dataset: '{name}' is not a local file; not converted")
    if files:
        lf["dataset"] = files
