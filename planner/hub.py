"""Plan a model on the Hugging Face Hub without downloading its weights.

`tunetui plan --model org/name` needs the architecture (``config.json``, a few KB) and,
for exact sizes, the parameter count and dtype of every tensor. Safetensors files start
with a JSON header listing exactly that, so HTTP range requests for the headers (what
``huggingface_hub.get_safetensors_metadata`` does, shards included) give exact figures
for a 70B model in a second, without its 140 GB. Both answers are cached in the tunetui
cache, so planning the same model again needs no network (and works offline).

When the headers cannot be read (a ``*.bin``-only repo, an endpoint without range
support), the plan falls back to counting parameters from the config alone and marks the
model approximate; `params_source` words either case for the plan's output. This module
imports huggingface_hub (no torch) and only inside functions, so `tunetui plan` on catalog
models stays fast.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError

# Bumped when the cached record changes shape.
CACHE_VERSION = 1


def tunetui_cache_dir() -> Path:
    """The tunetui cache root: ``$TUNETUI_CACHE``, else ``$XDG_CACHE_HOME/tunetui``, else
    ``~/.cache/tunetui``. Defined here, in the planner, because the planner may not import
    the runner; `runner.modelpath.cache_dir` is this function."""
    env = os.environ.get("TUNETUI_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tunetui"


def _record_path(repo_id: str) -> Path:
    return tunetui_cache_dir() / "hub" / f"{repo_id.replace('/', '--')}.json"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def hub_record(repo_id: str) -> dict[str, Any]:
    """``{"config": {...}, "parameter_count": {dtype: n} | None, "note": str}``, from the
    tunetui cache, else fetched from the Hub (config.json + safetensors headers) and cached."""
    path = _record_path(repo_id)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("version") == CACHE_VERSION:
            return record
    except (OSError, ValueError):
        pass
    if _offline():
        raise UserError(
            f"unknown model '{repo_id}' (not in the catalog, and HF_HUB_OFFLINE is set, so "
            "the Hub was not asked)",
            "plan it once with the Hub reachable (config.json and headers only), "
            "or pass --params, e.g. --params 7B",
        )
    record = _fetch(repo_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return record


def _fetch(repo_id: str) -> dict[str, Any]:
    """config.json (into the HF cache) and the safetensors headers' parameter counts."""
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        config_file = huggingface_hub.hf_hub_download(repo_id, "config.json")
    except GatedRepoError as exc:
        raise UserError(
            f"model '{repo_id}' is gated: reading even its config.json needs a token",
            f"accept its licence on https://huggingface.co/{repo_id} and set HF_TOKEN",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise UserError(
            f"model '{repo_id}' is not on the Hub (or is private)",
            "check the id (`tunetui models` lists the catalog); private models need HF_TOKEN",
        ) from exc
    except OSError as exc:
        raise UserError(
            f"could not fetch {repo_id}'s config.json: {str(exc).splitlines()[0]}",
            "check the network (or HF_ENDPOINT), or pass --params, e.g. --params 7B",
        ) from exc
    config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    try:
        meta = huggingface_hub.get_safetensors_metadata(repo_id)
        counts = {str(k): int(v) for k, v in meta.parameter_count.items()}
        note = "exact parameter count from the safetensors headers"
    except Exception as exc:  # no safetensors, no range support, a network hiccup
        counts = None
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        note = f"from config.json alone (safetensors headers unreadable: {reason})"
    return {"version": CACHE_VERSION, "config": config, "parameter_count": counts, "note": note}


def hub_spec(repo_id: str) -> Any:  # -> models.ModelSpec
    """The ModelSpec of a hub model: architecture from config.json; ``published_params`` the
    exact header count, or ``approx`` set when only the config was readable."""
    from tunetui.planner.hfconfig import spec_from_config

    record = hub_record(repo_id)
    spec = spec_from_config(record["config"], id_=repo_id)
    counts = record.get("parameter_count")
    if not counts:
        return replace(spec, hf_id=repo_id, approx=True)
    return replace(spec, hf_id=repo_id, published_params=float(sum(counts.values())))


def checkpoint_dtypes(repo_id: str) -> dict[str, int]:
    """Parameters per stored dtype (e.g. ``{"BF16": 7615616512}``) from the cached record."""
    return dict(hub_record(repo_id).get("parameter_count") or {})


def params_source(spec: Any) -> dict[str, Any]:
    """Where a hub model's parameter count came from, for the plan's model object:
    ``params_exact`` (the safetensors headers' total, or None) and ``params_note`` (the
    line the plan prints). Empty for a model not planned from the Hub (catalog, local
    folder, ``--params``). Reads the record `hub_spec` cached: no network."""
    if not spec.hf_id or spec.id != spec.hf_id:
        return {}
    try:
        record = json.loads(_record_path(spec.id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    counts = record.get("parameter_count") or {}
    if not counts:
        return {"params_exact": None, "params_note": f"parameters {record.get('note', '')}"}
    exact = int(sum(counts.values()))
    dtypes = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    return {
        "params_exact": exact,
        "params_note": f"{exact:,} parameters, exact, from the safetensors headers ({dtypes})",
    }
