"""Pick the best training configuration that fits the memory there is.

(Over 450 lines: the one-GPU ladder and the multi-GPU proposal share the rung list, the
candidate type and the fit rule; split, each half would import the other's internals.)

Walks a ladder from the most capable/fastest set-up to the most frugal (full fine-tuning of
small models > 16-bit LoRA > LoRA + gradient checkpointing > QLoRA > QLoRA + checkpointing >
QLoRA + checkpointing + shorter sequences) and takes the first rung whose largest per-device
batch fits in ``target_fraction`` of the free memory. Gradient accumulation keeps the
effective batch. Why a ladder rather than a search over every knob: each rung is a set-up
people actually run, and its order encodes quality and speed trade-offs the memory number
alone cannot (full > LoRA in quality, no checkpointing > checkpointing in speed).

On several GPUs each full fine-tuning rung takes the strategy with the least communication
that fits (DDP, then ZeRO-2, then FSDP); adapter rungs run as DDP replicas, and sharding
their frozen base (FSDP) comes last. When a job fits no set-up on the GPUs given, the
recommender *proposes* a GPU count and strategy on which it fits (`Recommendation.proposal`,
"full fine-tune of 8.0B: fsdp over 4 x 24 GiB GPUs"), with its per-GPU estimate; failing
that it names a shorter sequence or a smaller model of the same family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

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
# GPU counts a proposal may name: one machine's worth (`--gpus` is per machine, like the
# recipe's `distributed.num_processes`).
GPU_COUNTS = (2, 4, 8)
# Strategies tried on several GPUs, least communication first. DDP all-reduces the grads;
# ZeRO-2 reduce-scatters them (the same volume) and keeps 1/N of the optimizer states;
# FSDP and ZeRO-3 also all-gather each layer's weights in forward and backward, 1.5x
# DDP's traffic (ZeRO paper, Rajbhandari et al. 2020, section 7). ZeRO-2 only pays off with
# full-size optimizer states (not adapters'). FSDP before ZeRO-3: the same sharding without
# the deepspeed extra; ZeRO-3 after it, since their buffers differ (FSDP keeps its root
# unit, embeddings and head, whole through forward and backward: planner/estimator.py).
SHARDED = ("fsdp", "zero3")
FULL_STRATEGIES = ("ddp", "zero2", *SHARDED)
ADAPTER_STRATEGIES = ("ddp", *SHARDED)


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
    # Per-GPU GiB of the strategies tried before this one for the same set-up (why ZeRO-2
    # and not DDP): the `parallel` reason quotes them.
    strategy_gib: dict[str, float] = field(default_factory=dict)

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
            "gpus": c.n_gpus,  # option names (`tunetui.options`): --gpus, --parallel
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
    # Nothing fits on the GPUs given: the fewest GPUs of this memory (and the strategy)
    # on which the ladder's best set-up fits. None on a CPU or when 8 GPUs are not enough.
    proposal: Candidate | None = None


def _rungs(model: ModelSpec, device: str, n_gpus: int) -> list[tuple[str, dict[str, object]]]:
    """The ladder: (label, TrainConfig changes); ``parallel`` holds the strategies to try."""
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
    if n_gpus > 1:  # replicas do not fit: shard the base weights (FSDP, else ZeRO-3)
        rungs += [
            ("lora + ckpt", dict(method="lora", gradient_checkpointing=True, parallel=SHARDED)),
            ("qlora + ckpt", dict(method="qlora", gradient_checkpointing=True, parallel=SHARDED)),
        ]
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


def _fit_spread(
    model: ModelSpec, base: TrainConfig, free_gib: float, effective: int, label: str,
    strategies: tuple[str, ...],
) -> Candidate:  # fmt: skip
    """`_fit` under the first of `strategies` (least communication first) that fits, else
    under the last; the candidate remembers what the strategies before it needed."""
    needed: dict[str, float] = {}
    for strategy in strategies:
        named = (
            label if strategy in ("none", "ddp") or strategy in label else f"{label}, {strategy}"
        )
        cand = _fit(model, base.replace(parallel=strategy), free_gib, effective, named)
        cand.strategy_gib = dict(needed)
        if cand.fits:
            break
        needed[strategy] = round(cand.estimate.total_gib, 2)
    return cand


def _strategies(method: str, n_gpus: int, forced: str | None) -> tuple[str, ...]:
    if n_gpus == 1:
        return ("none",)
    if forced:
        return (forced,)
    return FULL_STRATEGIES if method in ("full", "freeze") else ("ddp",)


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
    propose: bool = True,
) -> Recommendation:
    """Best configuration for ``model`` within ``free_gib`` per device (see module doc).

    ``parallel`` forces one multi-GPU strategy; by default adapters use DDP, full
    fine-tuning the least-communicating strategy that fits, and sharded (FSDP) LoRA/QLoRA
    rungs come last. ``propose``: when nothing fits, look for a GPU count that would.
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
        if n_gpus > 1 and parallel and "parallel" in changes:
            continue  # the forced strategy already runs every rung
        extra = {k: v for k, v in changes.items() if k != "parallel"}
        strategies = _strategies(str(changes["method"]), n_gpus, parallel)
        if n_gpus > 1 and not parallel and "parallel" in changes:
            strategies = changes["parallel"]  # type: ignore[assignment]
        tried.append(_fit_spread(model, base.replace(**extra), free_gib, effective_batch,
                                 label, strategies))  # fmt: skip
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
        proposal = None
        if propose and device == "cuda":
            again = dict(stage=stage, seq_len=seq_len, effective_batch=effective_batch, bf16=bf16,
                         compute_capability=compute_capability, device=device,
                         lora_rank=lora_rank, attn=attn, parallel=parallel,
                         lora_dropout=lora_dropout, loss_impl=loss_impl)  # fmt: skip
            proposal = _more_gpus(model, free_gib, n_gpus, again)
        suggestion = (
            describe_proposal(model, proposal) if proposal else _suggest(model, base, free_gib)
        )
        return Recommendation(None, [], free_gib, suggestion, tried, proposal)
    best = fitting[0]
    ref = flops_per_token(model, best.cfg) * mfu_penalty(best.cfg)
    for cand in tried:
        cand.relative_speed = ref / (flops_per_token(model, cand.cfg) * mfu_penalty(cand.cfg))
    best.reasons = _reasons(model, best, tried, seq_len)
    return Recommendation(best, fitting[1:4], free_gib, None, tried)


def _more_gpus(
    model: ModelSpec, free_gib: float, n_gpus: int, kwargs: dict[str, object]
) -> Candidate | None:
    """The recommender's pick on the fewest GPUs (more than `n_gpus`) on which one fits at
    the asked length (a shorter one is a different job: `_shorter_seq` says so on its own)."""
    for count in (n for n in GPU_COUNTS if n > n_gpus):
        rec = recommend(model, free_gib, n_gpus=count, propose=False, **kwargs)  # type: ignore[arg-type]
        if rec.best is not None and rec.best.cfg.seq_len == kwargs["seq_len"]:
            return rec.best
    return None


def spread(
    model: ModelSpec, cfg: TrainConfig, free_gib: float, effective: int, *,
    strategy_given: bool = False, ckpt_given: bool = False, batch_given: bool = False,
) -> Candidate | None:  # fmt: skip
    """Where `cfg` (its method and length) fits when it does not on its GPUs: the fewest
    GPUs of this memory, then gradient checkpointing unless the user chose it, then the
    least-communicating strategy (the asked one first). A batch the user did not choose may
    shrink, as the recommender's would (accumulation keeps the effective batch). Counts
    from its own (another strategy on the same GPUs first). None on a CPU or beyond 8."""
    if cfg.device != "cuda":
        return None
    strategies = FULL_STRATEGIES if cfg.method in ("full", "freeze") else ADAPTER_STRATEGIES
    if strategy_given and cfg.parallel != "none":
        strategies = (cfg.parallel, *[s for s in strategies if s != cfg.parallel])
    ckpts = [cfg.gradient_checkpointing]
    if not ckpt_given and not cfg.gradient_checkpointing:
        ckpts.append(True)
    batches = [cfg.batch_size] if batch_given else [b for b in _batches(16) if b <= cfg.batch_size]
    counts = dict.fromkeys(n for n in (cfg.n_gpus, *GPU_COUNTS) if n >= max(2, cfg.n_gpus))
    asked = (cfg.n_gpus, cfg.gradient_checkpointing, cfg.parallel, cfg.batch_size)
    needed: dict[str, float] = {}  # what the strategies tried on the same GPUs needed
    for count, ckpt, batch, strategy in product(counts, ckpts, batches, strategies):
        if strategy == strategies[0]:
            needed = {}
        if (count, ckpt, strategy, batch) == asked:
            continue  # what was asked, and it does not fit
        moved = cfg.replace(
            n_gpus=count, gradient_checkpointing=ckpt, parallel=strategy, batch_size=batch
        )
        label = f"{cfg.method}{' + ckpt' if ckpt else ''} over {count} GPUs"
        cand = Candidate(moved, estimate(model, moved), free_gib, label, effective)
        if cand.fits:
            cand.strategy_gib = needed
            cand.reasons = {"parallel": _parallel_reason(cand)}
            return cand
        needed[strategy] = round(cand.estimate.total_gib, 2)
    return None


_WHAT = {"full": "full fine-tune", "freeze": "freeze-tuning", "lora": "LoRA", "dora": "DoRA",
         "qlora": "QLoRA"}  # fmt: skip


def describe_proposal(model: ModelSpec, cand: Candidate) -> str:
    """``full fine-tune of 8.0B: fsdp over 4 x 24 GiB GPUs fits, 18.5 GiB per GPU
    (--parallel fsdp --gpus 4)``: what, where, the per-GPU figure, and the flags."""
    c = cand.cfg
    what = _WHAT.get(c.method, c.method) + (" + grad ckpt" if c.gradient_checkpointing else "")
    size = f"{model.n_params / 1e9:.1f}B"
    flags = f"--parallel {c.parallel} --gpus {c.n_gpus}"
    if c.gradient_checkpointing:
        flags += " --grad-ckpt"
    flags += f" --batch {c.batch_size}"
    return (
        f"{what} of {size}: {c.parallel} over {c.n_gpus} x {cand.free_gib:.0f} GiB GPUs fits, "
        f"{_gib(cand.estimate.total_gib)} per GPU ({flags})"
    )


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
    """When no GPU count is proposed: a GPU of the catalog (on a CPU), else a smaller model."""
    frugal = base.replace(method="qlora", gradient_checkpointing=True, batch_size=1)
    if base.device == "cpu":  # "shard over 4 GPUs" means nothing to a CPU: name a GPU
        gpu = _smallest_gpu_that_fits(model, frugal)
        if gpu is not None:
            return f"on a GPU, QLoRA fits on one {gpu.name} (plan it: --gpu {gpu.key})"
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


_HOLDS = {
    "ddp": "a whole replica on each GPU, the least communication",
    "zero2": "grads and optimizer states sharded, weights replicated (deepspeed extra)",
    "zero3": "weights, grads and optimizer states sharded (deepspeed extra)",
    "fsdp": "weights, grads and optimizer states sharded",
}


def _parallel_reason(cand: Candidate) -> str:
    """``zero2 over 4 GPUs: grads and optimizer states sharded, …; ddp needs 86.4 GiB``."""
    c = cand.cfg
    parts = [f"{c.parallel} over {c.n_gpus} GPUs: {_HOLDS.get(c.parallel, c.parallel)}"]
    if cand.strategy_gib:
        parts.append(", ".join(f"{s} needs {_gib(g)}" for s, g in cand.strategy_gib.items()))
    if c.parallel == "fsdp":
        parts.append("zero3 is the same sharding through DeepSpeed")
    return "; ".join(parts)


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
    if c.n_gpus > 1 and c.parallel != "none":
        r["parallel"] = _parallel_reason(best)
    r["memory"] = f"{_gib(best.estimate.total_gib)} of {_gib(best.free_gib)} free"
    return r
