"""Reading a Hugging Face ``config.json`` (a file, a folder, the local HF cache) into a
`ModelSpec`, without transformers: the few fields that decide memory, under the several
names model families give them (``text_config`` nesting, ``n_layer``...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UserError
from .modelspec import ModelSpec


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
