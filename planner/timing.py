"""How long will it take? Training throughput from FLOPs over the hardware's peak.

A transformer step costs ~2N FLOPs per token forward and ~4N backward (Kaplan et al. 2020;
Chinchilla's 6N). LoRA/QLoRA skip the weight gradients of the frozen base (~2N), leaving
~4N (+ the adapters, negligible). Attention adds 2 matmuls of s x s per layer: 4·s·d_q
FLOPs per token forward, x3 for training, halved for causal masking. Gradient
checkpointing recomputes the forward once more. Dividing by peak dense TFLOPS at a model
FLOPs utilisation (MFU) range gives tokens/s as a range; QLoRA's on-the-fly dequantisation
lowers the reachable MFU. On CPU it is a rough figure and labelled so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .estimator import TrainConfig
from .models import ModelSpec
from .probe import cpu_fields, cpu_flags, cpu_has_native_bf16

# Utilisation of peak dense TFLOPS, counting the FLOPs actually run (recompute included).
# fms-acceleration's A100 runs (4096-token packed, flash attention) reach 0.61 (full),
# 0.51 (LoRA), 0.44 (QLoRA) on Mistral-7B; padded, shorter batches reach much less.
MFU_RANGE = (0.25, 0.55)
QLORA_MFU_FACTOR = 0.85  # dequantising NF4 weights every matmul: 0.44 / 0.51 above
CPU_GFLOPS_PER_CORE = 40.0  # when the CPU's vector units and clock cannot be read
# What a CPU fine-tuning step reaches of that peak, from the CPU bench job (bench/cpu_sft.py,
# SmolLM2-135M, 2 cores): 0.39 (Xeon, fp32), 0.31 (Xeon, bf16), 0.31 (EPYC Zen 4, fp32),
# 0.52 (EPYC, bf16). Larger models run larger matmuls, so the top is left open above these.
CPU_MFU_RANGE = (0.2, 0.55)
# fp32 FLOPs per cycle per core: two FMA pipes x lanes x 2 ops. AVX2: 2 x 8 x 2 = 32; Intel's
# AVX-512 cores have two 512-bit pipes (64); AMD before Zen 5 runs AVX-512 double-pumped on
# 256-bit pipes (32, as AVX2); SSE-only cores 16. Native bf16 (VDPBF16PS) does two
# multiply-adds per fp32 lane: x2. AMX tiles are not counted: a fine-tuning step's matmuls
# are too small and too few to feed them (the Xeon with AMX measured 0.31 of the x2 peak).
_FLOPS_PER_CYCLE = {"avx512": 64, "fma": 32, "sse": 16}
_ZEN5_FAMILY = 26  # AMD family 1Ah: full-width AVX-512


def cpu_gflops_per_core(cpuinfo: str | None = None, bf16: bool = False) -> float:
    """Peak GFLOPS of one core from its vector units and clock (/proc/cpuinfo), in fp32, or in
    bf16 on a core with native bf16 (`bf16`). Falls back to CPU_GFLOPS_PER_CORE where nothing
    can be read. Measured in the planner's range on both CPUs above (issue 18)."""
    info = cpu_fields(cpuinfo)
    flags = cpu_flags(cpuinfo)
    try:
        mhz = float(info["cpu MHz"])
    except (KeyError, ValueError):
        return CPU_GFLOPS_PER_CORE
    if not flags:
        return CPU_GFLOPS_PER_CORE
    amd = info.get("vendor_id") == "AuthenticAMD"
    wide = "avx512f" in flags and (not amd or _int(info.get("cpu family")) >= _ZEN5_FAMILY)
    kind = "avx512" if wide else "fma" if {"avx2", "fma"} <= flags else "sse"
    native_bf16 = bf16 and cpu_has_native_bf16(flags)
    return _FLOPS_PER_CYCLE[kind] * (2 if native_bf16 else 1) * mhz / 1e3


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


@dataclass
class TimeEstimate:
    """Throughput and wall-clock as (low, high) ranges; ``basis`` says how it was derived."""

    flops_per_token: float
    tokens_per_s: tuple[float, float]
    seconds_per_epoch: tuple[float, float] | None
    dataset_tokens: int | None
    epochs: float
    seconds_total: tuple[float, float] | None
    mfu_range: tuple[float, float]
    peak_tflops: float
    basis: str
    rough: bool = False

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        # significant figures, not decimals: a 72B model on a CPU runs at ~0.04 tokens/s,
        # and rounding that to 0.0 made every reader divide by zero
        out["tokens_per_s"] = [float(f"{x:.3g}") for x in self.tokens_per_s]
        for key in ("seconds_per_epoch", "seconds_total"):
            if out[key] is not None:
                out[key] = [round(x) for x in out[key]]
        return out


def flops_per_token(model: ModelSpec, cfg: TrainConfig) -> float:
    """Training FLOPs per token (forward + backward, + recompute with checkpointing)."""
    n = model.counts().active
    attn_fwd = 4 * cfg.seq_len * model.q_dim * model.num_hidden_layers / 2  # causal half
    if cfg.method == "full":
        per = 6 * n + 3 * attn_fwd
    elif cfg.method == "freeze":
        share = min(cfg.freeze_layers, model.num_hidden_layers) / model.num_hidden_layers
        per = 4 * n + 2 * n * share + 3 * attn_fwd
    else:
        per = 4 * n + 3 * attn_fwd
    if cfg.gradient_checkpointing:
        per += 2 * n + attn_fwd
    if cfg.stage in ("dpo", "kto"):
        per += 2 * n + attn_fwd  # the reference forward (a frozen copy, or adapters disabled)
    return per


# Throughput of N GPUs as a share of N x one GPU, one node with NVLink/PCIe-4 class links:
# DDP overlaps its gradient all-reduce with backward; ZeRO-2 adds a reduce-scatter and the
# parameter all-gather after the step; FSDP and ZeRO-3 gather every layer's weights in
# forward and again in backward (DeepSpeed's and PyTorch's published scaling runs land in
# these ranges for 7-70B models; slower links or several nodes do worse). Stated in the
# plan's basis so a user can discount it.
SCALING_EFFICIENCY = {"none": 1.0, "ddp": 0.92, "zero2": 0.88, "fsdp": 0.8, "zero3": 0.75}


def scaling_efficiency(cfg: TrainConfig) -> float:
    """Share of linear scaling this strategy keeps on ``cfg.n_gpus`` GPUs (1.0 on one)."""
    if cfg.n_gpus <= 1:
        return 1.0
    return SCALING_EFFICIENCY.get(cfg.parallel, SCALING_EFFICIENCY["zero3"])


def mfu_penalty(cfg: TrainConfig) -> float:
    """Slowdown beyond FLOPs: QLoRA's dequantisation lowers the reachable MFU."""
    return 1 / QLORA_MFU_FACTOR if cfg.weight_bits < 16 else 1.0


def estimate_time(
    model: ModelSpec,
    cfg: TrainConfig,
    peak_tflops: float | None,
    dataset_tokens: int | None = None,
    epochs: float = 1.0,
    cpu_cores: int | None = None,
) -> TimeEstimate:
    """Tokens/s and time per epoch as a range. ``peak_tflops`` None means CPU."""
    fpt = flops_per_token(model, cfg)
    rough = peak_tflops is None or cfg.device == "cpu"
    if rough:
        cores = max(1, cpu_cores or 1)
        per_core = cpu_gflops_per_core(bf16=cfg.precision == "bf16")
        peak = cores * per_core / 1e3
        mfu = CPU_MFU_RANGE
        width = "bf16" if cfg.precision == "bf16" else "fp32"
        basis = f"{cores} cores x {per_core:.0f} GFLOPS {width}, MFU {mfu[0]:.2f}-{mfu[1]:.2f}"
    else:
        scale = scaling_efficiency(cfg)
        peak = float(peak_tflops) * max(1, cfg.n_gpus) * scale
        mfu = MFU_RANGE
        if cfg.weight_bits < 16:
            mfu = (mfu[0] * QLORA_MFU_FACTOR, mfu[1] * QLORA_MFU_FACTOR)
        basis = (
            f"{fpt / 1e9:.1f} GFLOP/token over {peak:g} peak TFLOPS, MFU {mfu[0]:.2f}-{mfu[1]:.2f}"
        )
        if cfg.n_gpus > 1:
            basis += f" ({cfg.n_gpus} GPUs, {cfg.parallel} at {scale:.0%} scaling)"
    rate = (peak * 1e12 * mfu[0] / fpt, peak * 1e12 * mfu[1] / fpt)
    per_epoch = total = None
    if dataset_tokens:
        per_epoch = (dataset_tokens / rate[1], dataset_tokens / rate[0])
        total = (per_epoch[0] * epochs, per_epoch[1] * epochs)
    return TimeEstimate(
        flops_per_token=fpt,
        tokens_per_s=rate,
        seconds_per_epoch=per_epoch,
        dataset_tokens=dataset_tokens,
        epochs=epochs,
        seconds_total=total,
        mfu_range=mfu,
        peak_tflops=peak,
        basis=basis,
        rough=rough,
    )


def format_duration(seconds: float) -> str:
    """``42s``, ``17m``, ``3.2h``, ``2.1d``: short enough for a table cell.

    The format of *estimates*, which are ranges spanning seconds to weeks (a 70B epoch on a
    CPU); measured run durations use `runner.progress.format_duration` (``1h02m``), which
    the planner cannot import and whose precision an estimate does not have."""
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
