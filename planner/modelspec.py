"""`ModelSpec`: the architecture facts the estimator needs, and parameter counts derived
from them (embeddings, q/k/v/o with GQA, gated MLP, norms, lm_head unless tied, experts and
router), checked against published totals in tests/planner/test_models.py.
"""

from __future__ import annotations

from dataclasses import dataclass


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
