"""The model catalog and `resolve_model`: which architecture a model name means.

(`planner.modelspec` holds `ModelSpec` and the parameter counts; `planner.hfconfig` reads
an HF ``config.json``; `planner.hub` reads a Hub model's config and weight headers.)

The planner must answer before anything is downloaded, so a model is described by the few
HF ``config.json`` fields that decide its memory (hidden size, layers, heads, vocabulary,
MoE experts...). Catalog entries store exactly those fields as published in each model's
``config.json``; parameter counts are *derived* from the architecture (embeddings, q/k/v/o
with GQA, gated MLP, norms, lm_head unless tied, experts + router) and checked against the
published totals in tests/planner/test_models.py.

``resolve_model(arg)`` accepts a catalog id or alias (``llama-3.1-8b``,
``meta-llama/Llama-3.1-8B``, ``Qwen/Qwen2.5-7B-Instruct``), a local HF model directory or a
path to a ``config.json``. ``spec_from_params("7B")`` is the last-resort fallback.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import UserError, unknown
from .hfconfig import _hf_cache_config, spec_from_config, spec_from_config_file
from .modelspec import ModelSpec, ParamCounts

__all__ = ["CATALOG", "ModelSpec", "ParamCounts", "resolve_model", "spec_from_config"]

DEFAULT_MODEL = "smollm2-135m"


# --------------------------------------------------------------------------- catalog
# Fields copied from each model's config.json (HF hub). Only non-default fields are given.
_L3 = dict(family="llama", vocab_size=128256, num_key_value_heads=8)
_Q25 = dict(family="qwen2", attention_bias=True, num_key_value_heads=8, vocab_size=152064)
_Q3 = dict(family="qwen3", qk_norm=True, head_dim=128, num_key_value_heads=8, vocab_size=151936)
_SMOL = dict(family="llama", vocab_size=49152, tie_word_embeddings=True)
_G2 = dict(family="gemma2", vocab_size=256000, norms_per_layer=4, tie_word_embeddings=True)
_G3 = dict(family="gemma3_text", norms_per_layer=4, qk_norm=True, tie_word_embeddings=True)


def _e(id_: str, hf: str, params: float, h: int, inter: int, layers: int, heads: int, **kw: Any):
    """One catalog row: the common config fields positionally, the rest by name."""
    return dict(id=id_, hf_id=hf, published_params=params, hidden_size=h, intermediate_size=inter,
                num_hidden_layers=layers, num_attention_heads=heads, **kw)  # fmt: skip


_CATALOG_ROWS: list[dict[str, Any]] = [
    _e("smollm2-135m", "HuggingFaceTB/SmolLM2-135M", 134.5e6, 576, 1536, 30, 9,
       num_key_value_heads=3, **_SMOL),
    _e("smollm2-360m", "HuggingFaceTB/SmolLM2-360M", 361.8e6, 960, 2560, 32, 15,
       num_key_value_heads=5, **_SMOL),
    _e("smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B", 1.71e9, 2048, 8192, 24, 32,
       num_key_value_heads=32, **_SMOL),
    _e("llama-3.2-1b", "meta-llama/Llama-3.2-1B", 1.24e9, 2048, 8192, 16, 32, head_dim=64,
       tie_word_embeddings=True, **_L3),
    _e("llama-3.2-3b", "meta-llama/Llama-3.2-3B", 3.21e9, 3072, 8192, 28, 24, head_dim=128,
       tie_word_embeddings=True, **_L3),
    _e("llama-3.1-8b", "meta-llama/Llama-3.1-8B", 8.03e9, 4096, 14336, 32, 32, **_L3),
    _e("llama-3.1-70b", "meta-llama/Llama-3.1-70B", 70.6e9, 8192, 28672, 80, 64, **_L3),
    _e("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B", 0.494e9, 896, 4864, 24, 14,
       **{**_Q25, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True}),
    _e("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B", 1.54e9, 1536, 8960, 28, 12,
       **{**_Q25, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True}),
    _e("qwen2.5-3b", "Qwen/Qwen2.5-3B", 3.09e9, 2048, 11008, 36, 16,
       **{**_Q25, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True}),
    _e("qwen2.5-7b", "Qwen/Qwen2.5-7B", 7.62e9, 3584, 18944, 28, 28,
       **{**_Q25, "num_key_value_heads": 4}),
    _e("qwen2.5-14b", "Qwen/Qwen2.5-14B", 14.8e9, 5120, 13824, 48, 40, **_Q25),
    _e("qwen2.5-32b", "Qwen/Qwen2.5-32B", 32.8e9, 5120, 27648, 64, 40, **_Q25),
    _e("qwen2.5-72b", "Qwen/Qwen2.5-72B", 72.7e9, 8192, 29568, 80, 64, **_Q25),
    _e("qwen3-0.6b", "Qwen/Qwen3-0.6B", 0.596e9, 1024, 3072, 28, 16, tie_word_embeddings=True,
       **_Q3),
    _e("qwen3-1.7b", "Qwen/Qwen3-1.7B", 1.72e9, 2048, 6144, 28, 16, tie_word_embeddings=True,
       **_Q3),
    _e("qwen3-4b", "Qwen/Qwen3-4B", 4.02e9, 2560, 9728, 36, 32, tie_word_embeddings=True, **_Q3),
    _e("qwen3-8b", "Qwen/Qwen3-8B", 8.19e9, 4096, 12288, 36, 32, **_Q3),
    _e("qwen3-14b", "Qwen/Qwen3-14B", 14.8e9, 5120, 17408, 40, 40, **_Q3),
    _e("qwen3-32b", "Qwen/Qwen3-32B", 32.8e9, 5120, 25600, 64, 64, **_Q3),
    _e("qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B", 30.5e9, 2048, 6144, 48, 32,
       num_experts=128, num_experts_per_tok=8, moe_intermediate_size=768,
       **{**_Q3, "family": "qwen3_moe", "num_key_value_heads": 4}),
    _e("mistral-7b", "mistralai/Mistral-7B-v0.3", 7.25e9, 4096, 14336, 32, 32,
       family="mistral", num_key_value_heads=8, vocab_size=32768,
       aliases=("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-v0.3")),
    _e("mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1", 46.7e9, 4096, 14336, 32, 32,
       family="mixtral", num_key_value_heads=8, vocab_size=32000, num_experts=8,
       num_experts_per_tok=2, aliases=("mistralai/Mixtral-8x7B-Instruct-v0.1",)),
    _e("gemma-2-2b", "google/gemma-2-2b", 2.61e9, 2304, 9216, 26, 8, head_dim=256,
       num_key_value_heads=4, **_G2),
    _e("gemma-2-9b", "google/gemma-2-9b", 9.24e9, 3584, 14336, 42, 16, head_dim=256,
       num_key_value_heads=8, **_G2),
    _e("gemma-2-27b", "google/gemma-2-27b", 27.2e9, 4608, 36864, 46, 32, head_dim=128,
       num_key_value_heads=16, **_G2),
    _e("gemma-3-1b", "google/gemma-3-1b-pt", 1.0e9, 1152, 6912, 26, 4, head_dim=256,
       num_key_value_heads=1, vocab_size=262144, **_G3),
    _e("gemma-3-4b", "google/gemma-3-4b-pt", 3.88e9, 2560, 10240, 34, 8, head_dim=256,
       num_key_value_heads=4, vocab_size=262208, **_G3),
    _e("phi-3-mini", "microsoft/Phi-3-mini-4k-instruct", 3.82e9, 3072, 8192, 32, 32,
       family="phi3", num_key_value_heads=32, vocab_size=32064,
       aliases=("phi-3-mini-4k", "microsoft/Phi-3-mini-128k-instruct", "phi-3.5-mini")),
    _e("phi-4-mini", "microsoft/Phi-4-mini-instruct", 3.84e9, 3072, 8192, 32, 24,
       family="phi3", num_key_value_heads=8, vocab_size=200064, tie_word_embeddings=True),
    _e("phi-4", "microsoft/phi-4", 14.7e9, 5120, 17920, 40, 40, family="phi3",
       num_key_value_heads=10, vocab_size=100352),
]  # fmt: skip

CATALOG: dict[str, ModelSpec] = {row["id"]: ModelSpec(**row) for row in _CATALOG_ROWS}

_SUFFIXES = ("-instruct", "-it", "-chat", "-base", "-hf", "-pt", "-v0.1", "-v0.3", "-4k", "-128k")


def _norm(name: str) -> str:
    """Normalise an id for alias lookup: lowercase, no org, no -instruct/-it style suffixes."""
    s = name.strip().lower().rsplit("/", 1)[-1].replace("_", "-").replace(" ", "-")
    s = re.sub(r"^meta-llama-", "llama-", s)
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if s.endswith(suffix) and len(s) > len(suffix):
                s, changed = s[: -len(suffix)], True
    return s


def _alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for spec in CATALOG.values():
        for name in (spec.id, spec.hf_id, *spec.aliases):
            index.setdefault(name.lower(), spec.id)
            index.setdefault(_norm(name), spec.id)
    return index


_ALIASES = _alias_index()


def list_models() -> list[dict[str, Any]]:
    """The catalog as rows for ``tunetui models``: id, HF id, family, params, MoE, vocab."""
    rows = []
    for spec in CATALOG.values():
        c = spec.counts()
        rows.append(
            {
                "id": spec.id,
                "hf_id": spec.hf_id,
                "family": spec.family,
                "params_b": round(c.total / 1e9, 3),
                "active_params_b": round(c.active / 1e9, 3),
                "layers": spec.num_hidden_layers,
                "hidden_size": spec.hidden_size,
                "vocab_size": spec.vocab_size,
                "moe": spec.is_moe,
            }
        )
    return rows


def resolve_model(arg: str | None = None, params: str | None = None) -> ModelSpec:
    """A catalog id/alias, an HF model directory, a config.json path; ``params`` as fallback."""
    arg = (arg or "").strip()
    if params:
        parse_params(params)  # a bad --params is an error even when the model resolves
    if not arg:
        return spec_from_params(params) if params else CATALOG[DEFAULT_MODEL]
    hit = _ALIASES.get(arg.lower()) or _ALIASES.get(_norm(arg))
    if hit:
        return CATALOG[hit]
    path = Path(arg).expanduser()
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise UserError(
                f"'{arg}' is a directory without config.json",
                "Point --model at a Hugging Face model directory or at its config.json",
            )
        return spec_from_config_file(cfg)
    if path.is_file():
        return spec_from_config_file(path)
    cached = _hf_cache_config(arg)
    if cached is not None:
        return spec_from_config_file(cached)
    if arg.count("/") == 1 and not _looks_like_path(arg) and not params:
        from tunetui.planner.hub import hub_spec  # config.json + safetensors headers

        return hub_spec(arg)
    if _looks_like_path(arg):
        raise UserError(
            f"model path '{arg}' does not exist",
            "Pass an existing Hugging Face model directory or config.json, or a catalog id "
            "(see `tunetui models`)",
        )
    if params:
        return spec_from_params(params)
    raise unknown("model", arg, list(CATALOG), listing="tunetui models")


def _looks_like_path(arg: str) -> bool:
    """Why: a missing local path deserves "does not exist", not "unknown model" with
    catalog suggestions; ``org/name`` hub ids also contain '/' but start with a letter."""
    return arg.endswith(".json") or arg.startswith(("/", ".", "~"))


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmbt]?)\s*$", re.IGNORECASE)


def parse_params(text: str) -> float:
    """``7B``, ``350M``, ``1.5b``, ``7000000000`` -> a parameter count."""
    match = _SIZE.match(str(text))
    if not match:
        raise UserError(f"cannot read --params '{text}'", "Write it like 7B, 1.5B or 350M")
    value = (
        float(match.group(1))
        * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2).lower()]
    )
    if value < 1e6:
        raise UserError(f"--params {text} is too small", "Give a count such as 350M or 7B")
    return value


def spec_from_params(text: str) -> ModelSpec:
    """Fallback: a generic shape of ``text`` parameters, borrowed from the nearest real model.

    Why: a bare parameter count says nothing about depth, width or vocabulary, so the nearest
    dense catalog model (by size ratio) lends its layers, hidden size, heads and vocabulary,
    which keeps the activation and logits terms realistic (7B -> 32 layers like Mistral 7B).
    Only the MLP width is stretched to hit the count; when that would leave an implausible MLP
    (outside 2-8x hidden) the layer count is scaled instead. The result is marked ``approx``.
    """
    import math

    n = parse_params(text)
    dense = [s for s in CATALOG.values() if not s.is_moe]
    base = min(dense, key=lambda s: abs(math.log(s.n_params / n)))
    c = base.counts()
    mlp_mats = 3 if base.gated_mlp else 2
    per_unit = base.num_hidden_layers * mlp_mats * base.hidden_size  # params per MLP column
    inter = base.intermediate_size + round((n - c.total) / per_unit / 64) * 64
    layers = base.num_hidden_layers
    if not 2 * base.hidden_size <= inter <= 8 * base.hidden_size:
        inter = base.intermediate_size
        fixed = c.embed + c.lm_head
        layers = max(1, round((n - fixed) / c.per_layer)) if n > fixed else 1
    return replace(
        base,
        id=f"~{text.strip()} (shaped like {base.id})",
        hf_id="",
        intermediate_size=inter,
        num_hidden_layers=layers,
        aliases=(),
        published_params=n,
        approx=True,
    )
