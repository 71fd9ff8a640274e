"""GPU catalog: what `--gpu NAME` plans for when there is no GPU to probe.

The planner needs three numbers per GPU: how much memory a training process can actually get
(`memory_gib`, the total NVML reports, which is less than the marketing "GB"), whether bf16 is
native, and peak dense tensor throughput for the time estimate. Figures are *dense* (no 2:4
sparsity). For GeForce cards NVIDIA halves tensor throughput when accumulating in fp32, which is
what PyTorch's bf16/fp16 matmuls do, so those entries use the "FP16/BF16 Tensor TFLOPS with FP32
Accumulate" figure; datacenter and workstation cards run fp32 accumulation at full rate.

Sources, per family (checked with NVIDIA datasheets/whitepapers and TechPowerUp's GPU database):
- Volta/Turing/Pascal (V100, T4, P100, RTX 2080 Ti): NVIDIA V100 and T4 datasheets, P100
  datasheet (no tensor cores: the fp16 figure is the plain half-precision rate), Turing
  whitepaper for the 2080 Ti.
- Ampere datacenter (A100, A40, A30, A10, A10G): A100/A40/A30/A10 datasheets; A10G is AWS-only and
  NVIDIA publishes no tensor figure: 70 TFLOPS is the commonly quoted dense estimate (Baseten's
  "A10 vs A10G" comparison), lower clocks than A10.
- Ada/Hopper/Blackwell datacenter (L4, L40, L40S, H100 PCIe/SXM/NVL, H200, GH200, B200): product
  datasheets (dense = half the "with sparsity" number). China-market parts: A800 and H800 keep
  the A100/H100 SXM compute and memory (only NVLink is cut); H20 is NVIDIA's 96GB Hopper with
  148 dense bf16 TFLOPS.
- GeForce Ampere/Ada/Blackwell: NVIDIA GA102, Ada and Blackwell GeForce architecture whitepapers
  ("with FP32 Accumulate", dense column); cards absent from a whitepaper are scaled by SM count x
  boost clock from a sibling card (noted inline).
- Workstation (RTX A4000/A5000/A6000, RTX 6000 Ada, RTX PRO 6000 Blackwell): product datasheets;
  RTX PRO 6000 is derived from its 4000 "AI TOPS" (FP4, sparse) = 500 dense FP16.
- Memory in GiB: the MiB total `nvidia-smi` prints for each card / 1024 (e.g. RTX 4090 24564 MiB,
  H100 80GB HBM3 81559 MiB).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from tunetui.planner.errors import unknown


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
    # Names NVML reports for this card (nvmlDeviceGetName), used by match_catalog.
    nvml_names: tuple[str, ...] = field(default_factory=tuple)
    note: str = ""  # e.g. which variant a bare alias picks

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["compute_capability"] = f"{self.compute_capability[0]}.{self.compute_capability[1]}"
        return data


def _g(
    name: str,
    key: str,
    mib: int,
    cc: tuple[int, int],
    tflops: float,
    bandwidth: float,
    aliases: tuple[str, ...] = (),
    nvml: tuple[str, ...] = (),
    fp16: float | None = None,
    note: str = "",
) -> GPUSpec:
    """Build a spec from the MiB total nvidia-smi shows; bf16 follows compute capability."""
    bf16 = cc >= (8, 0)
    return GPUSpec(
        name=name,
        key=key,
        memory_gib=round(mib / 1024, 2),
        bf16=bf16,
        tflops_bf16=tflops if bf16 else 0.0,
        tflops_fp16=tflops if fp16 is None else fp16,
        bandwidth_gbs=bandwidth,
        compute_capability=cc,
        aliases=aliases,
        nvml_names=nvml,
        note=note,
    )


# fmt: off
CATALOG: list[GPUSpec] = [
    # --- Pascal / Volta / Turing (no bf16) ---
    _g("NVIDIA Tesla P100 PCIe 16GB", "p100", 16280, (6, 0), 18.7, 732, ("p100-16g",),
       ("Tesla P100-PCIE-16GB",), note="no tensor cores: fp16 is the plain half-precision rate"),
    _g("NVIDIA Tesla V100 16GB", "v100-16g", 16160, (7, 0), 125.0, 900, ("v100", "v100 16gb"),
       ("Tesla V100-SXM2-16GB", "Tesla V100-PCIE-16GB"), note="'v100' means the 16GB SXM2 card"),
    _g("NVIDIA Tesla V100 32GB", "v100-32g", 32510, (7, 0), 125.0, 900, ("v100 32gb", "v100s"),
       ("Tesla V100-SXM2-32GB", "Tesla V100-PCIE-32GB", "Tesla V100S-PCIE-32GB")),
    _g("NVIDIA GeForce RTX 2080 Ti", "rtx-2080-ti", 11264, (7, 5), 53.8, 616,
       ("2080 ti", "2080ti"), ("NVIDIA GeForce RTX 2080 Ti",),
       note="Turing GeForce: fp16 with fp32 accumulate, reference clocks"),
    _g("NVIDIA Tesla T4", "t4", 15360, (7, 5), 65.0, 320, ("tesla t4", "t4 16gb"), ("Tesla T4",)),
    # --- Ampere datacenter ---
    _g("NVIDIA A10", "a10", 23028, (8, 6), 125.0, 600, ("a10 24gb",), ("NVIDIA A10",)),
    _g("NVIDIA A10G", "a10g", 23028, (8, 6), 70.0, 600, ("aws a10g", "g5"), ("NVIDIA A10G",),
       note="AWS G5; tensor TFLOPS not published by NVIDIA, 70 is the usual estimate"),
    _g("NVIDIA A30", "a30", 24576, (8, 0), 165.0, 933, ("a30 24gb",), ("NVIDIA A30",)),
    _g("NVIDIA A40", "a40", 46068, (8, 6), 149.7, 696, ("a40 48gb",), ("NVIDIA A40",)),
    _g("NVIDIA A100 PCIe 40GB", "a100-40g-pcie", 40960, (8, 0), 312.0, 1555,
       ("a100 40gb pcie", "a100-pcie-40gb"), ("NVIDIA A100-PCIE-40GB",)),
    _g("NVIDIA A100 SXM4 40GB", "a100-40g", 40536, (8, 0), 312.0, 1555,
       ("a100 40gb", "a100-40gb", "a100 40g", "a100 sxm 40gb", "a100-sxm4-40gb"),
       ("NVIDIA A100-SXM4-40GB",), note="'a100 40gb' means the SXM4 card"),
    _g("NVIDIA A100 PCIe 80GB", "a100-80g-pcie", 81920, (8, 0), 312.0, 1935,
       ("a100 80gb pcie", "a100-pcie-80gb"), ("NVIDIA A100 80GB PCIe", "NVIDIA A100-PCIE-80GB")),
    _g("NVIDIA A100 SXM4 80GB", "a100-80g", 81152, (8, 0), 312.0, 2039,
       ("a100", "a100 80gb", "a100-80gb", "a100 80g", "a100 sxm", "a100-sxm4-80gb"),
       ("NVIDIA A100-SXM4-80GB",), note="'a100' and 'a100 80gb' mean the SXM4 80GB card"),
    _g("NVIDIA A800 SXM4 80GB", "a800", 81152, (8, 0), 312.0, 2039, ("a800 80gb", "a800-80gb"),
       ("NVIDIA A800-SXM4-80GB", "NVIDIA A800 80GB PCIe"), note="China-market A100 (NVLink cut)"),
    # --- Ada / Hopper / Blackwell datacenter ---
    _g("NVIDIA L4", "l4", 23034, (8, 9), 121.0, 300, ("l4 24gb",), ("NVIDIA L4",)),
    _g("NVIDIA L40", "l40", 46068, (8, 9), 181.0, 864, ("l40 48gb",), ("NVIDIA L40",)),
    _g("NVIDIA L40S", "l40s", 46068, (8, 9), 362.0, 864, ("l40s 48gb",), ("NVIDIA L40S",)),
    _g("NVIDIA H100 PCIe 80GB", "h100-pcie", 81559, (9, 0), 756.0, 2000, ("h100 pcie",),
       ("NVIDIA H100 PCIe",)),
    _g("NVIDIA H100 SXM 80GB", "h100-sxm", 81559, (9, 0), 989.0, 3350,
       ("h100", "h100 80gb", "h100 sxm", "h100-sxm5", "h100 hbm3"),
       ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"),
       note="'h100' means the SXM 80GB card"),
    _g("NVIDIA H100 NVL 94GB", "h100-nvl", 95830, (9, 0), 835.0, 3900, ("h100 nvl", "h100 94gb"),
       ("NVIDIA H100 NVL",)),
    _g("NVIDIA H800 80GB", "h800", 81559, (9, 0), 989.0, 3350, ("h800 sxm", "h800 80gb"),
       ("NVIDIA H800",), note="China-market H100 SXM (interconnect cut)"),
    _g("NVIDIA H20 96GB", "h20", 97871, (9, 0), 148.0, 4000, ("h20 96gb",), ("NVIDIA H20",),
       note="China-market Hopper: large memory, low compute"),
    _g("NVIDIA H200 141GB", "h200", 143771, (9, 0), 989.0, 4800, ("h200 sxm", "h200 141gb"),
       ("NVIDIA H200", "NVIDIA H200 NVL")),
    _g("NVIDIA GH200 96GB", "gh200", 97871, (9, 0), 989.0, 4000, ("gh200 96gb", "grace hopper"),
       ("NVIDIA GH200 480GB", "NVIDIA GH200 96GB HBM3"), note="the 96GB HBM3 module"),
    _g("NVIDIA B200 180GB", "b200", 183359, (10, 0), 2250.0, 8000, ("b200 180gb", "hgx b200"),
       ("NVIDIA B200",)),
    # --- GeForce (fp16/bf16 with FP32 accumulate: half the fp16-accumulate rate) ---
    _g("NVIDIA GeForce RTX 3060 12GB", "rtx-3060", 12288, (8, 6), 25.4, 360,
       ("3060", "rtx 3060 12gb"), ("NVIDIA GeForce RTX 3060",),
       note="scaled from 3090 by SMs x clock (28 SM @ 1.78 GHz)"),
    _g("NVIDIA GeForce RTX 3080 10GB", "rtx-3080", 10240, (8, 6), 59.5, 760,
       ("3080", "rtx 3080 10gb", "3080 10gb"), ("NVIDIA GeForce RTX 3080",),
       note="'3080' means the 10GB card"),
    _g("NVIDIA GeForce RTX 3080 12GB", "rtx-3080-12g", 12288, (8, 6), 61.2, 912,
       ("rtx 3080 12gb", "3080 12gb"), ("NVIDIA GeForce RTX 3080",),
       note="scaled from 3080 10GB (70 vs 68 SMs)"),
    _g("NVIDIA GeForce RTX 3090", "rtx-3090", 24576, (8, 6), 71.0, 936, ("3090",),
       ("NVIDIA GeForce RTX 3090",)),
    _g("NVIDIA GeForce RTX 3090 Ti", "rtx-3090-ti", 24564, (8, 6), 80.0, 1008,
       ("3090 ti", "3090ti"),
       ("NVIDIA GeForce RTX 3090 Ti",)),
    _g("NVIDIA GeForce RTX 4060 Ti 16GB", "rtx-4060-ti-16g", 16380, (8, 9), 44.1, 288,
       ("4060 ti", "4060ti", "rtx 4060 ti", "4060 ti 16gb"), ("NVIDIA GeForce RTX 4060 Ti",),
       note="the 16GB card"),
    _g("NVIDIA GeForce RTX 4070 Ti", "rtx-4070-ti", 12282, (8, 9), 80.2, 504, ("4070 ti", "4070ti"),
       ("NVIDIA GeForce RTX 4070 Ti",)),
    _g("NVIDIA GeForce RTX 4070 Ti SUPER", "rtx-4070-ti-super", 16376, (8, 9), 88.2, 672,
       ("4070 ti super", "4070ti super"), ("NVIDIA GeForce RTX 4070 Ti SUPER",),
       note="scaled from 4070 Ti (66 vs 60 SMs)"),
    _g("NVIDIA GeForce RTX 4080", "rtx-4080", 16376, (8, 9), 97.5, 717, ("4080",),
       ("NVIDIA GeForce RTX 4080",)),
    _g("NVIDIA GeForce RTX 4080 SUPER", "rtx-4080-super", 16376, (8, 9), 104.4, 736,
       ("4080 super",), ("NVIDIA GeForce RTX 4080 SUPER",),
       note="scaled from 4080 (80 SM @ 2.55 GHz)"),
    _g("NVIDIA GeForce RTX 4090", "rtx-4090", 24564, (8, 9), 165.2, 1008, ("4090", "rtx4090"),
       ("NVIDIA GeForce RTX 4090",)),
    _g("NVIDIA GeForce RTX 5080", "rtx-5080", 16303, (12, 0), 112.6, 960, ("5080",),
       ("NVIDIA GeForce RTX 5080",)),
    _g("NVIDIA GeForce RTX 5090", "rtx-5090", 32607, (12, 0), 209.5, 1792, ("5090",),
       ("NVIDIA GeForce RTX 5090",)),
    # --- Workstation (full-rate FP32 accumulate) ---
    _g("NVIDIA RTX A4000", "rtx-a4000", 16376, (8, 6), 76.7, 448, ("a4000",),
       ("NVIDIA RTX A4000",)),
    _g("NVIDIA RTX A5000", "rtx-a5000", 24564, (8, 6), 111.1, 768, ("a5000",),
       ("NVIDIA RTX A5000",)),
    _g("NVIDIA RTX A6000", "rtx-a6000", 49140, (8, 6), 154.8, 768, ("a6000",),
       ("NVIDIA RTX A6000",)),
    _g("NVIDIA RTX 6000 Ada", "rtx-6000-ada", 49140, (8, 9), 364.2, 960,
       ("6000 ada", "rtx 6000 ada generation"), ("NVIDIA RTX 6000 Ada Generation",)),
    _g("NVIDIA RTX PRO 6000 Blackwell", "rtx-pro-6000", 97887, (12, 0), 500.0, 1792,
       ("rtx pro 6000", "pro 6000", "rtx pro 6000 blackwell", "6000 blackwell"),
       ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition"),
       note="Max-Q (300 W) runs slower than the 600 W workstation card"),
]
# fmt: on

_DROP_WORDS = ("nvidia", "geforce", "tesla", "generation", "edition", "workstation")


def normalize(name: str) -> str:
    """Canonical lookup form: lowercase, vendor words and punctuation gone, '80GB' -> '80g'.

    Why: users type "A100 80GB", "a100-80gb" or "RTX 4090"; NVML says "NVIDIA A100-SXM4-80GB".
    """
    text = name.lower()
    for word in _DROP_WORDS:
        text = text.replace(word, " ")
    text = re.sub(r"(\d+)\s*gb\b", r"\1g", text)
    return re.sub(r"[^a-z0-9]", "", text)


def _index() -> dict[str, GPUSpec]:
    """Every normalized key, name and alias -> spec; a bare 'rtx' prefix is optional."""
    index: dict[str, GPUSpec] = {}
    for spec in CATALOG:
        for word in (spec.key, spec.name, *spec.aliases):
            norm = normalize(word)
            index.setdefault(norm, spec)
            if norm.startswith("rtx"):
                index.setdefault(norm[3:], spec)
    return index


_INDEX = _index()


def resolve_gpu(name: str) -> GPUSpec:
    """Find a catalog GPU by key, name or alias (case/space/dash-insensitive).

    Raises the standard "unknown GPU" UserError (with a close match or `tunetui gpus`) otherwise.
    """
    spec = _INDEX.get(normalize(name))
    if spec is not None:
        return spec
    # Suggest from keys and aliases alike: a typo of "4090" is closer to the alias than
    # to the key "rtx-4090".
    names = [s.key for s in CATALOG] + [a for s in CATALOG for a in s.aliases]
    raise unknown("GPU", name, names, listing="tunetui gpus")


def find_gpu(name: str) -> GPUSpec | None:
    """Like `resolve_gpu` but returns None instead of raising (for probed names)."""
    return _INDEX.get(normalize(name))


def match_nvml_name(nvml_name: str, memory_total_gib: float | None = None) -> GPUSpec | None:
    """The catalog entry for a name NVML reports, or None when the card is not catalogued.

    Exact NVML names win; several cards can share one (RTX 3080 10/12GB), so the probed memory
    total picks the closest. MIG slices ("... MIG 1g.10gb") match their parent GPU.
    """
    base = re.split(r"\s+MIG\s+", nvml_name.strip())[0]
    wanted = normalize(base)
    hits = [s for s in CATALOG if any(normalize(n) == wanted for n in s.nvml_names)]
    if not hits:
        spec = find_gpu(base)
        return spec
    if len(hits) > 1 and memory_total_gib:
        return min(hits, key=lambda s: abs(s.memory_gib - memory_total_gib))
    return hits[0]
