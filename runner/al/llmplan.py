"""How many pool items the LLM learner scores per forward pass: a small inference planner.

`tunetui.planner` estimates *training* memory (weights, optimizer, activations with their
backward); scoring the pool needs only a forward pass, whose peak is much smaller and
shaped differently (every layer's hidden state is kept, because the diversity strategies
read the last one; logits are kept for the last position only). This is that estimate,
kept small and next to its only user:

    weights  = parameters x bytes per weight (from the safetensors files' size)
    per item = (layers + 1) x seq x hidden x bytes      hidden states (output_hidden_states)
             + seq x intermediate x bytes x 2           the widest MLP transient
             + heads x seq^2 x bytes                    one layer's attention scores (eager)
             + vocab x 4                                 the last position's fp32 logits

The batch is the largest power of two whose total stays under 80% of the free memory
(GPU: free device memory; CPU: available RAM), capped at 64 on a GPU and 16 on a CPU
(past that a CPU gains no throughput and progress updates get rare).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

GPU_CAP = 64
CPU_CAP = 16
HEADROOM = 0.8


@dataclass(frozen=True)
class ScoringPlan:
    """The batch and the figures it came from (shown to the user, stored with the scores)."""

    batch: int
    device: str
    weights_gib: float
    per_item_gib: float
    free_gib: float

    def line(self) -> str:
        return (
            f"scoring plan: batch {self.batch} on {self.device} "
            f"(weights {self.weights_gib:.2f} GiB + {self.per_item_gib * 1024:.1f} MiB/item, "
            f"{self.free_gib:.1f} GiB free)"
        )


def _weight_bytes(model_dir: Path) -> int:
    files = list(model_dir.glob("*.safetensors")) or list(model_dir.glob("*.bin"))
    return sum(f.stat().st_size for f in files)


def per_item_bytes(config: dict, seq_len: int, dtype_bytes: int) -> int:
    """Forward-pass memory one item adds, from the model's config.json (see the module doc)."""
    hidden = int(config.get("hidden_size", 1024))
    layers = int(config.get("num_hidden_layers", 24))
    inter = int(config.get("intermediate_size", 4 * hidden))
    heads = int(config.get("num_attention_heads", 16))
    vocab = int(config.get("vocab_size", 32000))
    hidden_states = (layers + 1) * seq_len * hidden * dtype_bytes
    mlp = 2 * seq_len * inter * dtype_bytes
    attention = heads * seq_len**2 * dtype_bytes
    return hidden_states + mlp + attention + vocab * 4


def plan_scoring(model_dir: str | Path, seq_len: int, device: str, free_bytes: int) -> ScoringPlan:
    """The scoring batch for `model_dir` at `seq_len` tokens on `device` with `free_bytes`."""
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    dtype_bytes = 2 if device == "cuda" else 4  # bf16/fp16 on a GPU, fp32 on a CPU
    weights = _weight_bytes(model_dir) * (2 if device == "cpu" else 1)  # bf16 files -> fp32
    item = per_item_bytes(config, seq_len, dtype_bytes)
    cap = GPU_CAP if device == "cuda" else CPU_CAP
    batch = 1
    while batch * 2 <= cap and weights + batch * 2 * item <= HEADROOM * free_bytes:
        batch *= 2
    gib = 1024**3
    return ScoringPlan(batch, device, weights / gib, item / gib, free_bytes / gib)


def free_memory(device: str) -> int:
    """Free bytes on the device scoring will use."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    import psutil

    return int(psutil.virtual_memory().available)
