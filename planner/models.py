"""Model specs: the catalog, HF config parsing and parameter counts from the architecture.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import UserError, unknown

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """The architecture facts the estimator needs; field names follow HF ``config.json``.

    A plain frozen dataclass (not pydantic): building the catalog must cost microseconds,
    because `tunetui plan` is timed as a whole process.
    """

    id: str  # catalog id, or the directory / file it was read from
    hf_id: str = ""
    family: str = "llama"  # HF model_type
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int = 0  # 0 = hidden_size // num_attention_heads
    vocab_size: int
    tie_word_embeddings: bool = False
    attention_bias: bool = False  # q/k/v biases (Qwen2, Qwen2.5)
    qk_norm: bool = False  # per-head RMSNorm on q and k (Qwen3, Gemma 3)
    norms_per_layer: int = 2  # Gemma 2/3 have 4 (pre/post attention and MLP)
    gated_mlp: bool = True  # SwiGLU/GeGLU: gate+up+down; False: up+down (GPT-style)
    mlp_bias: bool = False  # biases on the MLP and o_proj (GPT-style)
    learned_positions: int = 0  # rows of a learned position embedding (GPT-2 style)
    num_experts: int = 0  # 0 = dense
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    aliases: tuple[str, ...] = ()
    published_params: float = 0.0  # e.g. 8.03e9, from the model card (for tests and display)
    approx: bool = False  # True when built from --params only

    @property
    def head_size(self) -> int:
        """Per-head dimension (``head_dim`` or hidden/heads, as HF does)."""
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def q_dim(self) -> int:
        """Width of the query projection output (heads x head size)."""
        return self.num_attention_heads * self.head_size

    @property
    def kv_dim(self) -> int:
        """Width of each of the key and value projection outputs (GQA)."""
        return self.num_key_value_heads * self.head_size

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    def linears(self) -> list[tuple[str, int, int, int]]:
        """Per-layer linear layers as (name, in_features, out_features, copies).

        Names follow the Llama/Qwen module names so LoRA ``targets`` can select them. MoE
        experts are listed with ``copies = num_experts``; the router is ``gate``.
        """
        h, q, kv = self.hidden_size, self.q_dim, self.kv_dim
        out: list[tuple[str, int, int, int]] = [
            ("q_proj", h, q, 1),
            ("k_proj", h, kv, 1),
            ("v_proj", h, kv, 1),
            ("o_proj", q, h, 1),
        ]
        if self.is_moe:
            inter = self.moe_intermediate_size or self.intermediate_size
            e = self.num_experts
            out += [("gate", h, e, 1)]
            out += [("experts.gate_proj", h, inter, e), ("experts.up_proj", h, inter, e)]
            out += [("experts.down_proj", inter, h, e)]
            if self.shared_expert_intermediate_size:
                s = self.shared_expert_intermediate_size
                out += [("shared_expert.gate_proj", h, s, 1), ("shared_expert.up_proj", h, s, 1)]
                out += [("shared_expert.down_proj", s, h, 1)]
        else:
            inter = self.intermediate_size
            if self.gated_mlp:
                out += [("gate_proj", h, inter, 1)]
            out += [("up_proj", h, inter, 1), ("down_proj", inter, h, 1)]
        return out

    def counts(self) -> ParamCounts:
        """Parameter counts by part, derived from the architecture."""
        return _count(self)

    @property
    def n_params(self) -> int:
        return self.counts().total


@dataclass(frozen=True)
class ParamCounts:
    """Parameters by part. ``linear`` is what bitsandbytes quantises (all decoder linears)."""

    embed: int
    lm_head: int  # 0 when tied to the embedding
    linear: int  # decoder-layer linear weights (incl. experts and router)
    other: int  # norms, biases, learned positions: kept 16/32-bit when quantising
    per_layer: int  # all parameters of one decoder layer
    active: int  # parameters used per token (MoE: top-k experts only)

    @property
    def total(self) -> int:
        return self.embed + self.lm_head + self.linear + self.other


def _count(m: ModelSpec) -> ParamCounts:
    lin = sum(i * o * c for _, i, o, c in m.linears())
    bias = 0
    if m.attention_bias:
        bias += m.q_dim + 2 * m.kv_dim
    if m.mlp_bias:
        bias += m.hidden_size + sum(o * c for n, _, o, c in m.linears() if n not in ("q_proj",))
    norms = m.norms_per_layer * m.hidden_size + (2 * m.head_size if m.qk_norm else 0)
    if m.mlp_bias:  # GPT-style LayerNorm has a bias as well as a weight
        norms *= 2
    per_layer = lin + bias + norms
    embed = m.vocab_size * m.hidden_size + m.learned_positions * m.hidden_size
    lm_head = 0 if m.tie_word_embeddings else m.vocab_size * m.hidden_size
    final_norm = m.hidden_size * (2 if m.mlp_bias else 1)
    layers = m.num_hidden_layers
    active = embed + lm_head + final_norm + layers * per_layer
    if m.is_moe:
        inter = m.moe_intermediate_size or m.intermediate_size
        idle = (m.num_experts - m.num_experts_per_tok) * 3 * m.hidden_size * inter
        active -= layers * idle
    return ParamCounts(
        embed=embed,
        lm_head=lm_head,
        linear=layers * lin,
        other=layers * (bias + norms) + final_norm,
        per_layer=per_layer,
        active=active,
    )


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


def _hf_cache_config(repo_id: str) -> Path | None:
    """``org/name`` already in the local Hugging Face cache: its config.json (no network)."""
    import os

    if repo_id.count("/") != 1:
        return None
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(Path.home(), ".cache", "huggingface"), "hub"
    )
    snapshots = Path(hub) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def spec_from_config_file(path: Path) -> ModelSpec:
    """Read an HF ``config.json``; malformed input is a UserError naming the file."""
    import json  # lazy: catalog lookups (the common case) never parse JSON

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(
            f"cannot read {path}: {err}", "Pass a valid Hugging Face config.json"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a JSON object", "Pass a Hugging Face config.json")
    return spec_from_config(data, id_=str(path.parent if path.name == "config.json" else path))


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    return default


def spec_from_config(cfg: dict[str, Any], id_: str = "config") -> ModelSpec:
    """Build a spec from HF config fields (also GPT-2 style names and nested text_config)."""
    if isinstance(cfg.get("text_config"), dict):  # multimodal wrappers (Gemma 3, Llava...)
        cfg = {**cfg["text_config"], "tie_word_embeddings": cfg.get("tie_word_embeddings")}
    h = _first(cfg, "hidden_size", "n_embd", "d_model")
    layers = _first(cfg, "num_hidden_layers", "n_layer", "num_layers")
    heads = _first(cfg, "num_attention_heads", "n_head")
    vocab = _first(cfg, "vocab_size")
    needed = {"hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": heads,
              "vocab_size": vocab}  # fmt: skip
    missing = [k for k, v in needed.items() if not v]
    if missing:
        raise UserError(
            f"{id_}: config.json lacks {', '.join(missing)}",
            "Pass the config.json of a decoder-only model, or use --params 7B",
        )
    mtype = str(cfg.get("model_type", "llama"))
    gpt_style = mtype in ("gpt2", "gpt_bigcode", "gpt_neox", "opt", "phi", "falcon", "starcoder")
    inter = _first(cfg, "intermediate_size", "n_inner", "ffn_dim", default=None) or 4 * h
    kv = _first(cfg, "num_key_value_heads", "num_kv_heads", default=None)
    if kv is None:
        kv = 1 if cfg.get("multi_query") else heads
    experts = int(_first(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=0))
    tie = cfg.get("tie_word_embeddings")
    try:
        return ModelSpec(
            id=id_,
            hf_id=str(cfg.get("_name_or_path", "")),
            family=mtype,
            hidden_size=int(h),
            intermediate_size=int(inter),
            num_hidden_layers=int(layers),
            num_attention_heads=int(heads),
            num_key_value_heads=int(kv),
            head_dim=int(cfg.get("head_dim") or 0),
            vocab_size=int(vocab),
            tie_word_embeddings=bool(True if tie is None else tie),
            attention_bias=bool(cfg.get("attention_bias", mtype in ("qwen2", "qwen2_moe"))),
            qk_norm=mtype in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2"),
            norms_per_layer=4 if mtype.startswith("gemma2") or mtype.startswith("gemma3") else 2,
            gated_mlp=not gpt_style,
            mlp_bias=gpt_style,
            learned_positions=int(cfg.get("n_positions", 0)) if mtype in ("gpt2", "gpt_bigcode")
            else 0,
            num_experts=experts,
            num_experts_per_tok=int(cfg.get("num_experts_per_tok") or (2 if experts else 0)),
            moe_intermediate_size=int(cfg.get("moe_intermediate_size") or 0),
            shared_expert_intermediate_size=int(
                cfg.get("shared_expert_intermediate_size")
                or (cfg.get("n_shared_experts") or 0) * (cfg.get("moe_intermediate_size") or 0)
            ),
        )  # fmt: skip
    except (TypeError, ValueError) as err:
        raise UserError(f"{id_}: unexpected config.json values ({err})", "Check the file") from None


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
