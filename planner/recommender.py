"""Pick the best training configuration that fits the memory there is.

Walks a ladder from the most capable/fastest set-up to the most frugal (full fine-tuning of
small models > 16-bit LoRA > LoRA + gradient checkpointing > QLoRA > QLoRA + checkpointing >
QLoRA + checkpointing + shorter sequences) and takes the first rung whose largest per-device
batch fits in ``target_fraction`` of the free memory. Gradient accumulation keeps the
effective batch. Why a ladder rather than a search over every knob: each rung is a set-up
people actually run, and its order encodes quality and speed trade-offs the memory number
alone cannot (full > LoRA in quality, no checkpointing > checkpointing in speed).

When nothing fits it names the smallest change that would: a shorter sequence, more GPUs
(sharded), or a smaller model of the same family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tunetui.options import default

from .estimator import Estimate, TrainConfig, estimate
from .gpus import GPUSpec
from .models import CATALOG, ModelSpec
from .timing import flops_per_token, mfu_penalty

FULL_MAX_PARAMS = 3.0e9  # above this, full fine-tuning on a few GPUs is rarely what users want
TARGET_FRACTION = 0.90  # plan to use at most this share of free memory (75-95% band)
# A configuration the user asked for "fits" when its total (what nvidia-smi will show, with
# fragmentation, context and NCCL) leaves this share of free memory: the estimate's own
# spread (bench/plan_accuracy.py) plus allocator noise between steps.
FIT_MARGIN = 0.05
MIN_FRACTION = 0.75
DEFAULT_RANK = default("rank")  # the recipe's default: one vocabulary
DEFAULT_EFFECTIVE_BATCH = 16
MIN_SEQ = 128


@dataclass
class Candidate:
    """One configuration with its estimate and how well it uses the memory budget."""

    cfg: TrainConfig
    estimate: Estimate
    free_gib: float
    label: str
    effective_batch: int
    relative_speed: float = 1.0
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return self.estimate.total_gib <= self.free_gib * TARGET_FRACTION

    @property
    def vram_fraction(self) -> float:
        return self.estimate.total_gib / self.free_gib if self.free_gib else float("inf")

    @property
    def grad_accum(self) -> int:
        return max(1, -(-self.effective_batch // (self.cfg.batch_size * self.cfg.n_gpus)))

    def to_dict(self) -> dict[str, object]:
        """The ``recommendation`` object of ``tunetui plan --json``."""
        c = self.cfg
        return {
            "label": self.label,
            "method": c.method,
            "bits": c.weight_bits,
            "rank": c.lora_rank if c.is_adapter else None,
            "targets": c.targets if c.is_adapter else None,
            "batch": c.batch_size,
            "grad_accum": self.grad_accum,
            "cutoff_len": c.seq_len,
            "grad_ckpt": c.gradient_checkpointing,
            "optim": c.optimizer,
            "precision": c.precision,
            "stage": c.stage,
            "n_gpus": c.n_gpus,
            "parallel": c.parallel,
            "fits": self.fits,
            "vram_fraction": round(self.vram_fraction, 3),
            "total_gib": round(self.estimate.total_gib, 2),
            "relative_speed": round(self.relative_speed, 2),
            "reasons": self.reasons,
        }


@dataclass
class Recommendation:
    """The pick (``best``, None when nothing fits), runners-up, and what to change if needed."""

    best: Candidate | None
    alternatives: list[Candidate]
    free_gib: float
    suggestion: str | None = None
    tried: list[Candidate] = field(default_factory=list)


def _rungs(model: ModelSpec, device: str, n_gpus: int) -> list[tuple[str, dict[str, object]]]:
    rungs: list[tuple[str, dict[str, object]]] = []
    if model.n_params <= FULL_MAX_PARAMS:
        rungs += [
            ("full", dict(method="full", gradient_checkpointing=False)),
            ("full + ckpt", dict(method="full", gradient_checkpointing=True)),
            ("full + ckpt + 8-bit Adam", dict(method="full", gradient_checkpointing=True,
                                              optimizer="adamw_8bit")),
        ]  # fmt: skip
    rungs += [
        ("lora", dict(method="lora", gradient_checkpointing=False)),
        ("lora + ckpt", dict(method="lora", gradient_checkpointing=True)),
    ]
    if device == "cuda":  # bitsandbytes 4-bit training needs a GPU
        rungs += [
            ("qlora", dict(method="qlora", gradient_checkpointing=False)),
            ("qlora + ckpt", dict(method="qlora", gradient_checkpointing=True)),
        ]
    if n_gpus > 1:  # replicas do not fit: shard the base weights over the GPUs (FSDP)
        rungs += [
            ("lora + ckpt, fsdp", dict(method="lora", gradient_checkpointing=True,
                                       parallel="fsdp")),
            ("qlora + ckpt, fsdp", dict(method="qlora", gradient_checkpointing=True,
                                        parallel="fsdp")),
        ]  # fmt: skip
    return rungs


def _batches(effective: int) -> list[int]:
    """Per-device batch sizes to try, largest first: powers of two up to the effective batch."""
    out, b = [], 1
    while b <= min(effective, 16):
        out.append(b)
        b *= 2
    return out[::-1] or [1]


def _fit(model: ModelSpec, base: TrainConfig, free_gib: float, effective: int, label: str):
    """The candidate with the largest batch that fits, else the batch-1 one (not fitting)."""
    cand = None
    for batch in _batches(effective):
        cfg = base.replace(batch_size=batch)
        cand = Candidate(cfg, estimate(model, cfg), free_gib, label, effective)
        if cand.fits:
            return cand
    return cand


def recommend(
    model: ModelSpec,
    free_gib: float,
    *,
    stage: str = "sft",
    seq_len: int = 1024,
    effective_batch: int = DEFAULT_EFFECTIVE_BATCH,
    n_gpus: int = 1,
    bf16: bool = True,
    compute_capability: tuple[int, int] | None = None,
    device: str = "cuda",
    lora_rank: int = DEFAULT_RANK,
    attn: str = "sdpa",
    parallel: str | None = None,
    lora_dropout: float = default("dropout"),
    loss_impl: str = "hf",
) -> Recommendation:
    """Best configuration for ``model`` within ``free_gib`` per device (see module doc).

    ``parallel`` forces one multi-GPU strategy; by default adapters use DDP, full
    fine-tuning FSDP, and sharded (FSDP) LoRA/QLoRA rungs come last.
    """
    precision = "bf16" if bf16 else ("fp16" if device == "cuda" else "fp32")
    if device == "cpu":
        precision = "fp32"  # most CPUs lack fast bf16 matmuls; fp32 is what torch runs well
    base = TrainConfig(
        method="lora", lora_rank=lora_rank, seq_len=seq_len, stage=stage, n_gpus=n_gpus,
        parallel="ddp" if n_gpus > 1 else "none", precision=precision, attn=attn,
        device=device, compute_capability=compute_capability, lora_dropout=lora_dropout,
        loss_impl=loss_impl,
    )  # fmt: skip
    tried: list[Candidate] = []
    for label, changes in _rungs(model, device, n_gpus):
        extra = dict(changes)
        if n_gpus > 1 and extra["method"] == "full":
            extra["parallel"] = "fsdp"
        if n_gpus > 1 and parallel:
            if "parallel" in changes and changes["parallel"] != parallel:
                continue  # the forced strategy already ran this rung
            extra["parallel"] = parallel
        tried.append(_fit(model, base.replace(**extra), free_gib, effective_batch, label))
    fitting = [c for c in tried if c.fits]
    if not fitting and device == "cuda":
        short = _shorter_seq(model, tried[-1].cfg, free_gib, effective_batch)
        if short is not None:
            fitting, tried = [short], [*tried, short]
    if not fitting:
        frugal = min(tried, key=lambda c: c.estimate.total_gib)
        frugal.reasons = {
            "method": f"nothing fits: the most frugal set-up ({frugal.label}) needs "
            f"{_gib(frugal.estimate.total_gib)}, budget {_gib(free_gib * TARGET_FRACTION)}",
        }
        tried.remove(frugal)
        tried.append(frugal)  # build_plan shows the last tried candidate
        return Recommendation(None, [], free_gib, _suggest(model, base, free_gib), tried)
    best = fitting[0]
    ref = flops_per_token(model, best.cfg) * mfu_penalty(best.cfg)
    for cand in tried:
        cand.relative_speed = ref / (flops_per_token(model, cand.cfg) * mfu_penalty(cand.cfg))
    best.reasons = _reasons(model, best, tried, seq_len)
    return Recommendation(best, fitting[1:4], free_gib, None, tried)


def _shorter_seq(model: ModelSpec, cfg: TrainConfig, free_gib: float, effective: int):
    seq = cfg.seq_len // 2
    while seq >= MIN_SEQ:
        cand = _fit(
            model, cfg.replace(seq_len=seq), free_gib, effective, f"qlora + ckpt, seq {seq}"
        )
        if cand.fits:
            return cand
        seq //= 2
    return None


def _smallest_gpu_that_fits(model: ModelSpec, cfg: TrainConfig) -> GPUSpec | None:
    """The catalog GPU with the least memory on which `cfg` (moved to CUDA) fits."""
    from .gpus import CATALOG as GPUS

    for gpu in sorted(GPUS, key=lambda g: g.memory_gib):
        on_gpu = cfg.replace(
            device="cuda", precision="bf16" if gpu.bf16 else "fp16",
            compute_capability=gpu.compute_capability,
        )  # fmt: skip
        if estimate(model, on_gpu).total_gib <= gpu.memory_gib * TARGET_FRACTION:
            return gpu
    return None


def _suggest(model: ModelSpec, base: TrainConfig, free_gib: float) -> str:
    """The smallest change that would fit: more GPUs (sharded) first, then a smaller model."""
    frugal = base.replace(method="qlora", gradient_checkpointing=True, batch_size=1)
    if base.device == "cpu":  # "shard over 4 GPUs" means nothing to a CPU: name a GPU
        gpu = _smallest_gpu_that_fits(model, frugal)
        if gpu is not None:
            return f"on a GPU, QLoRA fits on one {gpu.name} (plan it: --gpu {gpu.key})"
    for n in () if base.device == "cpu" else (2, 4, 8):
        cfg = frugal.replace(n_gpus=n, parallel="fsdp")
        if estimate(model, cfg).total_gib <= free_gib * TARGET_FRACTION:
            return f"QLoRA sharded over {n} GPUs would fit (--gpus {n})"
    for seq in dict.fromkeys((base.seq_len, min(base.seq_len, 1024), min(base.seq_len, 512))):
        cfg = frugal.replace(seq_len=seq)
        smaller = [
            m for m in CATALOG.values()
            if m.n_params < model.n_params and not m.is_moe
            and estimate(m, cfg).total_gib <= free_gib * TARGET_FRACTION
        ]  # fmt: skip
        if smaller:
            org = model.hf_id.split("/")[0]  # same publisher: the closest relative
            same = [m for m in smaller if org and m.hf_id.startswith(org + "/")] or smaller
            pick = max(same, key=lambda m: m.n_params)
            shorter = f" --cutoff-len {seq}" if seq != base.seq_len else ""
            return (
                f"a smaller model fits with QLoRA: --model {pick.id}{shorter} "
                f"({pick.n_params / 1e9:.1f}B)"
            )
    return "nothing fits this memory: use a GPU with more memory"


def _gib(x: float) -> str:
    return f"{x:.1f} GiB"


def _reasons(model: ModelSpec, best: Candidate, tried: list[Candidate], seq: int) -> dict[str, str]:
    c = best.cfg
    budget = best.free_gib * TARGET_FRACTION
    before = [t for t in tried[: tried.index(best)]]
    r: dict[str, str] = {}
    if c.method == "full":
        r["method"] = f"full fine-tuning fits ({model.n_params / 1e9:.2f}B params): best quality"
    else:
        full = next((t for t in before if t.cfg.method == "full"), None)
        why = (
            f"full fine-tuning needs {_gib(full.estimate.total_gib)}"
            if full
            else f"full fine-tuning of {model.n_params / 1e9:.1f}B params is not worth it here"
        )
        r["method"] = f"{c.method}: {why}"
        if c.method == "qlora":
            lora = [t for t in before if t.cfg.method == "lora"]
            need = min(t.estimate.total_gib for t in lora) if lora else 0
            r["method"] = f"QLoRA: 16-bit LoRA needs {_gib(need)} > budget {_gib(budget)}"
    r["bits"] = (
        f"{c.weight_bits}-bit NF4 base weights (double quant)"
        if c.weight_bits == 4
        else f"{c.weight_bits}-bit weights ({c.precision})"
    )
    if c.is_adapter:
        r["rank"] = f"rank {c.lora_rank} on all linear layers: the usual quality/size balance"
    r["batch"] = (
        f"largest per-device batch that fits; grad_accum {best.grad_accum} keeps the "
        f"effective batch at {best.effective_batch}"
    )
    if c.gradient_checkpointing:
        no_ckpt = next(
            (t for t in before if t.cfg.method == c.method and not t.cfg.gradient_checkpointing),
            None,
        )
        cost = f"without it: {_gib(no_ckpt.estimate.total_gib)}" if no_ckpt else ""
        r["grad_ckpt"] = f"on: recompute activations to fit ({cost}), ~1/3 slower"
    else:
        r["grad_ckpt"] = "off: activations fit, so no recompute cost"
    r["optim"] = (
        "8-bit AdamW: quarter-size optimizer states"
        if c.optimizer == "adamw_8bit"
        else "AdamW (the default; adapter states are small)"
        if c.is_adapter
        else "AdamW"
    )
    r["cutoff_len"] = (
        f"{c.seq_len} as asked"
        if c.seq_len == seq
        else f"shortened from {seq}: nothing fits at {seq}"
    )
    r["precision"] = {
        "bf16": "bf16: native on this GPU, no loss scaling",
        "fp16": "fp16 with loss scaling: this GPU has no native bf16",
        "fp32": "fp32: what CPUs run well",
    }[c.precision]
    r["memory"] = f"{_gib(best.estimate.total_gib)} of {_gib(best.free_gib)} free"
    return r
