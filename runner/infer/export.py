"""Merge a LoRA/DoRA adapter into its base model and save a standalone model folder.

A merged model loads with plain ``AutoModelForCausalLM.from_pretrained`` (vLLM, TGI,
llama.cpp's converter), with no peft at inference time. The merge runs on CPU in the base
checkpoint's own dtype, like LLaMA-Factory's ``export_device: cpu``, so it works on the
machine that trained the adapter without competing for GPU memory.

QLoRA: the adapter was trained against 4-bit weights, but merging into 4-bit weights would
round the update away, so the base is always reloaded in 16-bit (its checkpoint dtype) and
the adapter is merged into that; the result is a normal 16-bit model.

The output is written to a temporary sibling folder and renamed into place, so an
interrupted export never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.infer.inference import load_tokenizer, quiet_libraries
from tunetui.runner.infer.target import Target, resolve_target
from tunetui.runner.rundir import folder_bytes, replace_folder
from tunetui.runner.userfiles import check_writable

EXPORT_INFO = "tunetui_export.json"


@dataclass
class ExportResult:
    """What was written, for the CLI's message and ``--json``."""

    output: str
    base: str
    adapter: str
    dtype: str
    size_mb: float
    seconds: float
    qlora_reloaded_16bit: bool
    # The merged-vs-(base + adapter) checks (`verify.verify_merged`), when they were run.
    verification: dict | None = None


def default_output(target: Target) -> Path:
    """``<run>/merged`` for a run, ``<adapter>-merged`` next to a bare adapter folder."""
    if target.run_dir is not None:
        return target.run_dir / "merged"
    assert target.adapter is not None
    return target.adapter.with_name(target.adapter.name + "-merged")


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse to replace an existing, non-empty folder unless ``--overwrite``."""
    if output.exists() and not output.is_dir():
        raise UserError(f"output '{output}' is a file", "choose another -o/--output folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise UserError(
            f"output folder '{output}' already exists",
            "pass --overwrite to replace it, or choose another -o/--output",
        )
    # under a file, or in a read-only folder: before minutes of merging, not after
    check_writable(output, "output folder", "Choose another -o/--output")


def _checkpoint_dtype(base: Path):  # -> torch.dtype
    """The dtype the base checkpoint is stored in (fp32 when it does not say)."""
    import torch

    try:
        config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if config.get("quantization_config"):
        raise UserError(
            f"base model '{base}' is stored quantized, so an adapter cannot be merged into it",
            "pass the original 16-bit model with --base",
        )
    name = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)


def export_merged(
    target: Target,
    output: Path | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Merge ``target``'s adapter into its base and save safetensors + tokenizer atomically."""
    if target.adapter is None:
        where = target.run_dir or target.base
        raise UserError(
            f"'{where}' has no adapter to merge (it is already a complete model)",
            "export needs a LoRA/DoRA/QLoRA run or adapter folder; use the model folder directly",
        )
    output = Path(output) if output is not None else default_output(target)
    check_output(output, overwrite)
    started = time.monotonic()

    quiet_libraries()
    from peft import PeftModel

    dtype = _checkpoint_dtype(target.base)
    tokenizer = load_tokenizer(target)
    base = head_class(target.adapter).from_pretrained(
        target.base, dtype=dtype, trust_remote_code=target.trust_remote_code,
        **_head_kwargs(target.adapter, tokenizer),
    )  # fmt: skip
    model = PeftModel.from_pretrained(base, target.adapter).merge_and_unload()

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        result = ExportResult(
            output=str(output),
            base=str(target.base),
            adapter=str(target.adapter),
            dtype=str(dtype).removeprefix("torch."),
            size_mb=round(folder_bytes(tmp) / 1e6, 1),
            seconds=round(time.monotonic() - started, 1),
            qlora_reloaded_16bit=target.quantized,
        )
        (tmp / EXPORT_INFO).write_text(json.dumps(asdict(result), indent=2) + "\n")
        replace_folder(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def is_reward_adapter(adapter: Path | None) -> bool:
    """A reward model's adapter (peft task SEQ_CLS: its saved ``score`` head)."""
    if adapter is None:
        return False
    try:
        config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return config.get("task_type") == "SEQ_CLS"


def head_class(adapter: Path | None) -> Any:
    """The model class the adapter was trained on: a one-logit sequence classifier for a
    reward model (export used to build a causal LM and drop the trained ``score`` head),
    else a causal LM."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    return (
        AutoModelForSequenceClassification if is_reward_adapter(adapter) else AutoModelForCausalLM
    )


def _head_kwargs(adapter: Path | None, tokenizer: Any) -> dict[str, Any]:
    if not is_reward_adapter(adapter):
        return {}
    return {"num_labels": 1, "pad_token_id": tokenizer.pad_token_id}


def export(
    source: str,
    output: str | None = None,
    overwrite: bool = False,
    base: str | None = None,
    verify: bool = True,
) -> ExportResult:
    """CLI-level entry: resolve RUN|ADAPTER_DIR (optionally on an explicit base), merge, and
    check the merged model against base + adapter (``verification.json`` beside it)."""
    from tunetui.runner.infer.verify import VERIFICATION_FILE, verify_merged

    target = resolve_target(base, adapter=source) if base else resolve_target(source)
    result = export_merged(target, Path(output) if output else None, overwrite)
    if verify and target.adapter is not None and not is_reward_adapter(target.adapter):
        report = verify_merged(target.base, target.adapter, Path(result.output), result.dtype)
        result.verification = report.as_dict()
        Path(result.output, VERIFICATION_FILE).write_text(json.dumps(result.verification, indent=2))
    return result
