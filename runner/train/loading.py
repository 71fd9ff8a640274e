"""Loading models in the training and inference processes (torch, transformers).

Where a model lives is decided by the light `tunetui.runner.modelpath`; this module turns
that into weights: it converts the embedded GGUF once (dequantize Q4_1 with transformers'
GGUF loader, rebuild a clean model from the config without the quantization config, write
it with the tokenizer, whose chat template comes from the GGUF metadata, atomically under a
file lock so two processes starting at once convert once), and loads tokenizers and models.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tunetui.runner.modelpath import (
    CONVERSION_VERSION,
    EMBEDDED,
    MARKER,
    embedded_cache_path,
    fetch_hub_model,
    find_gguf,
    is_hub_id,
    locate_model,
    marker_ok,
)


def resolve_model_dir(name_or_path: str, log: Any = None) -> Path:
    """A local folder with config.json for `name_or_path`: an embedded model is converted
    first when its cache is not there yet, a hub id is downloaded into the HF cache when
    it is not there (and the Hub may be used); UserError with a fix otherwise."""
    key = name_or_path.strip().lower()
    if key in EMBEDDED:
        return ensure_embedded(key, log=log)
    if is_hub_id(name_or_path) and not Path(name_or_path).expanduser().exists():
        return fetch_hub_model(name_or_path.strip(), say=log)
    return locate_model(name_or_path)


def ensure_embedded(model_id: str, log: Any = None) -> Path:
    """The converted folder of an embedded model, converting it first if needed.

    `log` is an optional callable for progress lines (the worker passes print so the
    one-time ~20 s conversion is explained in train.log).
    """
    from filelock import FileLock

    model = EMBEDDED[model_id]
    gguf = find_gguf(model)
    dest = embedded_cache_path(model_id)
    if marker_ok(dest, gguf):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.parent / f".{model_id}.lock")):
        if marker_ok(dest, gguf):  # another process converted it while we waited
            return dest
        if log:
            log(f"Converting the embedded model {model_id} from GGUF (once, ~20 s) -> {dest}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{model_id}.", dir=dest.parent))
        try:
            convert_gguf(gguf, tmp)
            (tmp / MARKER).write_text(
                json.dumps(
                    {
                        "version": CONVERSION_VERSION,
                        "gguf": gguf.name,
                        "gguf_size": gguf.stat().st_size,
                        "wheel": model.wheel,
                    },
                    indent=2,
                )
            )
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def convert_gguf(gguf: Path, out: Path, dtype: str = "bfloat16") -> None:
    """Dequantize a GGUF checkpoint into a plain safetensors HF folder at `out`.

    Loading with ``GgufConfig(dequantize=True)`` attaches a quantizer and a
    ``quantization_config`` to the model; saving that directly would make every later load
    think the weights are quantized. So the weights are copied into a fresh model built from
    the cleaned config. bf16 is the dtype SmolLM2 was released in and halves the cache.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    src = gguf.parent
    loaded = AutoModelForCausalLM.from_pretrained(
        src, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config._name_or_path = gguf.stem
    state = loaded.state_dict()
    del loaded
    torch_dtype = getattr(torch, dtype)
    clean = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = clean.load_state_dict(
        {k: v.to(torch_dtype) for k, v in state.items()}, strict=False
    )
    # Tied embeddings may legitimately be absent from the GGUF state dict.
    missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    clean.tie_weights()

    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name)
    if not getattr(tokenizer, "chat_template", None):
        raise RuntimeError(f"{gguf.name} carries no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    gen = clean.generation_config
    if gen is not None:
        gen.eos_token_id = tokenizer.eos_token_id
        gen.pad_token_id = tokenizer.pad_token_id
        gen.bos_token_id = tokenizer.bos_token_id
    clean.config.eos_token_id = tokenizer.eos_token_id
    clean.config.pad_token_id = tokenizer.pad_token_id
    clean.save_pretrained(out)
    tokenizer.save_pretrained(out)


# ---------------------------------------------------------------- loading (heavy)


def load_tokenizer(model_dir: str | os.PathLike[str], trust_remote_code: bool = False) -> Any:
    """The model's tokenizer with a pad token (trainers need one to batch).

    Right padding is the training default; generation code flips it locally.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def pick_attention(requested: str, device: str) -> str:
    """The attention implementation to use: flash_attention_2 only when installed and on
    CUDA (else sdpa, with a warning on stderr = train.log); sdpa and eager as asked."""
    from tunetui.runner.requirements import attention_fallback

    why = attention_fallback(requested, device)
    if why:
        _warn(why)  # train.log; the worker also emits it as a `warning` event
        return "sdpa"
    return requested


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def load_model(
    model_dir: str | os.PathLike[str],
    *,
    task: str = "causal",
    dtype: Any = None,
    attn_implementation: str = "sdpa",
    quantization_config: Any = None,
    trust_remote_code: bool = False,
    device_map: Any = None,
    pad_token_id: int | None = None,
) -> Any:
    """Load a causal LM (``task="causal"``) or a one-logit sequence classifier for reward
    modelling (``task="reward"``), with the dtype/attention/quantization the recipe asks for."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {
        "trust_remote_code": trust_remote_code,
        "attn_implementation": attn_implementation,
    }
    if dtype is not None:
        kwargs["dtype"] = dtype
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    if task == "reward":
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, num_labels=1, **kwargs
        )
    elif task == "causal":
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    else:
        raise ValueError(f"unknown task {task!r}")
    if pad_token_id is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = pad_token_id
    return model
