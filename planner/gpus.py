"""GPU catalog: what `--gpu NAME` plans for when there is no GPU to probe.

STUB: the interface is fixed; the catalog is being filled (>= 30 entries).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GPUSpec:
    """One GPU model. TFLOPS are peak *dense* (no sparsity) tensor-core figures."""

    name: str  # canonical display name, e.g. "NVIDIA H100 SXM 80GB"
    key: str  # short id, e.g. "h100-sxm"
    memory_gib: float  # usable memory as NVML reports total, in GiB
    bf16: bool  # native bf16 (compute capability >= 8.0)
    tflops_bf16: float  # 0.0 when unsupported
    tflops_fp16: float
    bandwidth_gbs: float  # memory bandwidth, GB/s
    compute_capability: tuple[int, int]
    aliases: tuple[str, ...] = field(default_factory=tuple)


CATALOG: list[GPUSpec] = [
    GPUSpec("NVIDIA GeForce RTX 4090", "rtx-4090", 23.99, True, 165.2, 165.2, 1008, (8, 9),
            ("4090", "rtx4090", "rtx 4090")),
    GPUSpec("NVIDIA A100 80GB", "a100-80g", 79.25, True, 312.0, 312.0, 2039, (8, 0),
            ("a100 80gb", "a100-80gb", "a100 80g")),
]


def resolve_gpu(name: str) -> GPUSpec:
    """Find a catalog GPU by key, name or alias (case/space-insensitive)."""
    raise NotImplementedError
