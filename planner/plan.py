"""The plan: hardware + model + estimate + recommendation + time, as one JSON-ready dict.

(Over 450 lines on purpose: `build_plan` and the helpers that assemble its one dict --
hardware, explicit config, calibration, host-RAM check -- read as one piece; the parts that
stand alone already live in recommender, estimator, timing and hub.)

``build_plan`` is what ``tunetui plan --json`` prints and what the runner stores as a run's
``plan.json``. With no method flags it recommends; with any of them it estimates exactly
that configuration and says whether (and by how much) it fits, keeping the recommender's
pick as an alternative. Without a GPU it plans for CPU/RAM and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tunetui.options import (
    BITS,
    TARGET_PRESETS,
    contradiction,
    default,
    unknown_choice,
)

from .calibration import FORMULA, Measurement, architecture_key, correction
from .errors import UserError, unknown
from .estimator import TrainConfig, estimate
from .hub import params_source
from .models import ModelSpec, resolve_model
from .recommender import (
    FIT_MARGIN,
    TARGET_FRACTION,
    Candidate,
    Recommendation,
    describe_proposal,
    recommend,
    spread,
)
from .stack import installed_version
from .timing import estimate_time, flops_per_token, mfu_penalty
from .trainconfig import ATTN_ALIASES

PLAN_VERSION = 1
AUTO = "auto"  # --gpus auto: every probed GPU
NO_GPU_HINT = "pass --gpu NAME (see `tunetui gpus`) to plan for a GPU you will use"


@dataclass
class Hardware:
    """What the plan sizes against: one device's free memory, its peak TFLOPS, and where
    the figures came from (probe, catalog or the host's RAM)."""

    device: str  # cuda | cpu
    name: str
    source: str  # probe | catalog | host
    free_gib: float
    total_gib: float
    n_gpus: int = 1
    bf16: bool = True
    tflops: float | None = None
    compute_capability: tuple[int, int] | None = None
    cpu_cores: int | None = None
    note: str | None = None
    # CPU only: training processes sharing this host's RAM (`--gpus N` without a GPU: gloo
    # ranks). accelerate runs every strategy as DDP on CPU, so each holds a whole copy.
    processes: int = 1

    def to_dict(self) -> dict[str, Any]:
        cc = self.compute_capability
        return {
            "device": self.device,
            "name": self.name,
            "source": self.source,
            "n_gpus": self.n_gpus,
            "memory_total_gib": round(self.total_gib, 2),
            "memory_free_gib": round(self.free_gib, 2),
            "bf16": self.bf16,
            "peak_tflops": self.tflops,
            "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
            "cpu_cores": self.cpu_cores,
            "note": self.note,
            "processes": self.processes,
        }


def _num(x: Any) -> float | None:
    """NVML 'N/A' sentinels are falsy strings: turn anything non-numeric into None."""
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _host_hardware(reason: str | None, probe_result: Any = None) -> Hardware:
    host = getattr(probe_result, "host", None)
    ram = _num(getattr(host, "ram_available_gib", None))
    total = _num(getattr(host, "ram_total_gib", None))
    cores = getattr(host, "cpu_cores_physical", None) or getattr(host, "cpu_cores_logical", None)
    if ram is None or total is None:
        import psutil

        vm = psutil.virtual_memory()
        ram, total = vm.available / 2**30, vm.total / 2**30
        cores = cores or psutil.cpu_count(logical=False)
    note = f"no NVIDIA GPU found ({reason}); planning for CPU/RAM, {NO_GPU_HINT}"
    from .probe import cpu_has_native_bf16

    bf16 = cpu_has_native_bf16()  # the runner's `auto` trains in bf16 there, so plan it
    return Hardware(
        "cpu", "CPU", "host", ram, total, 1, bf16, None, None, _num(cores) and int(cores), note
    )


def resolve_hardware(gpu: str | None, n_gpus: int | str = 1, probe_result: Any = None) -> Hardware:
    """``--gpu auto`` (or None): probe NVML; no GPU -> CPU/RAM. ``--gpu NAME``: the catalog.

    ``n_gpus="auto"`` (``--gpus auto``) is every probed GPU of the first GPU's kind; with no
    GPU the plan is the CPU plan ``--gpu auto`` gives, its note saying what to pass instead.
    Several probed GPUs are sized against the one with the least free memory: each rank
    gets the same share of the job, so the fullest GPU is the one that runs out.
    """
    auto = n_gpus == AUTO
    processes = 1 if auto else max(1, int(n_gpus))  # CPU ranks, when there is no GPU
    if gpu and gpu.lower() not in ("auto", "probe"):
        if gpu.lower() == "cpu":
            return replace(_host_hardware("--gpu cpu"), processes=processes)
        from .gpus import resolve_gpu

        spec = resolve_gpu(gpu)
        if auto:
            raise UserError(
                f"--gpus auto counts this machine's GPUs, not those of a --gpu {gpu} machine",
                f"Pass how many it has: --gpu {gpu} --gpus 8",
            )
        return Hardware(
            "cuda", spec.name, "catalog", spec.memory_gib, spec.memory_gib, int(n_gpus),
            spec.bf16, spec.tflops_bf16 if spec.bf16 else spec.tflops_fp16,
            spec.compute_capability, note="catalog GPU, assumed empty",
        )  # fmt: skip
    if probe_result is None:
        from .probe import probe

        probe_result = probe()
    gpus = list(getattr(probe_result, "gpus", []) or [])
    if not gpus:
        reason = getattr(probe_result, "no_gpu_reason", None) or "NVML reports no GPUs"
        hw = replace(_host_hardware(str(reason), probe_result), processes=processes)
        if auto:
            hw.note = (
                f"--gpus auto: no GPU was probed ({reason}); planning for CPU/RAM. "
                "To plan another machine's GPUs pass --gpu NAME --gpus N"
            )
        return hw
    g = gpus[0]
    same = [x for x in gpus if x.name == g.name]
    count = len(same) if auto else int(n_gpus)
    used = same[:count]
    total = _num(getattr(g, "plan_memory_gib", None)) or _num(g.memory_total_gib) or 0.0
    frees = [f for f in (_num(x.memory_free_gib) for x in used) if f is not None]
    free = min(min(frees), total) if frees else total
    cc = g.compute_capability if isinstance(g.compute_capability, tuple) else None
    bf16 = bool(g.bf16) if isinstance(g.bf16, bool) else bool(cc and cc[0] >= 8)
    from .probe import match_catalog

    spec = match_catalog(g)
    tflops = None if spec is None else (spec.tflops_bf16 if bf16 else spec.tflops_fp16)
    note = None
    if count > len(same):
        note = f"asked for {count} GPUs, found {len(same)}"
    elif auto and len(same) < len(gpus):
        note = f"--gpus auto: the {count} x {g.name}; {len(gpus) - count} other GPU(s) differ"
    elif count > 1 and len(frees) > 1 and max(frees) - min(frees) > 1.0:
        note = f"sized for the fullest of the {count} GPUs ({free:.1f} GiB free)"
    return Hardware("cuda", str(g.name), "probe", free, total, max(1, count), bf16, tflops, cc,
                    note=note)  # fmt: skip


def _explicit_config(
    flags: dict[str, Any], seq: int, stage: str, hw: Hardware, attn: str
) -> TrainConfig:
    method = flags.get("method")
    bits = flags.get("bits")
    if method is None:
        method = "qlora" if bits in (4, 8) else "lora"
    if method == "qlora" and bits is None:
        bits = 4
    asked = flags.get("precision") if flags.get("precision") != "auto" else None
    precision = asked or ("bf16" if hw.bf16 else "fp16")
    if hw.device == "cpu" and not asked:
        precision = "bf16" if hw.bf16 else "fp32"  # what `auto` trains in on this CPU
    parallel = flags.get("parallel") or ("ddp" if hw.n_gpus > 1 else "none")
    dropout = flags.get("dropout")
    return TrainConfig(
        method=method,
        bits=bits,
        lora_rank=flags.get("rank") or default("rank"),
        targets=_targets(flags.get("targets")),
        lora_dropout=default("dropout") if dropout is None else dropout,
        loss_impl=loss_impl(flags.get("liger"), stage),
        batch_size=flags.get("batch") or default("batch"),
        grad_accum=flags.get("grad_accum") or 1,
        seq_len=seq,
        gradient_checkpointing=bool(flags.get("grad_ckpt")),
        optimizer=flags.get("optim") or default("optim"),
        precision=precision,
        attn=attn,
        stage=stage,
        n_gpus=hw.n_gpus,
        parallel=parallel,
        offload=flags.get("offload") or "none",
        device=hw.device,
        compute_capability=hw.compute_capability,
    )


TILED_HEAD_STAGES = ("sft", "pt", "dpo", "kto")  # trl's trainers with its fused LM head


def loss_impl(liger: bool | None, stage: str = "sft") -> str:
    """The loss the runner will compute: Liger's fused linear cross-entropy when the recipe
    asks for Liger and liger-kernel is installed (the runner falls back without it, so the
    plan does too); else trl's fused LM head, in tiles, for the trainers that have it; else
    transformers' (fp32 logits)."""
    if liger and installed_version("liger-kernel"):
        return "fused"
    return "tiled" if stage in TILED_HEAD_STAGES else "hf"


def _targets(value: str | None) -> str | tuple[str, ...]:
    """``all``/``attn``/``qv`` as they are; ``gate_proj,up_proj`` as a tuple of module names
    (the recipe's ``lora.targets`` and ``--targets`` write both the same way)."""
    value = value or default("targets")
    if value in TARGET_PRESETS:
        return value
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _check_choices(**given: Any) -> str | None:
    """Refuse unknown choices and contradictions, with the recipe's rule and words
    (`tunetui.options`), before planning: `plan --parallel zero9` or `--method lora --bits 4`
    must not plan something else silently. Returns the method (a bit width alone: qlora)."""
    attn = given.get("attn")
    given["attn"] = ATTN_ALIASES.get(attn, attn)  # the planner also takes `flash`
    for name, value in given.items():
        if name == "bits" and value == 16:
            continue  # 16 bits: an unquantized base, which --bits may say explicitly
        bad = unknown_choice(name, value)  # parallel too: it is a recipe option now
        if bad:
            raise unknown(*bad)
    method = given["method"]
    if method is None and given["bits"] in BITS:
        method = "qlora"
    clash = contradiction(method or default("method"), {k: v for k, v in given.items() if v})
    if clash:
        raise UserError(*clash)
    return method


def parse_gpus(value: int | str | None) -> int | str:
    """``--gpus``: a count, or ``auto`` for every GPU the probe finds (one-line error else)."""
    if value is None:
        return 1
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UserError(
        f"--gpus must be a number of GPUs or auto, got {value!r}",
        "Pass --gpus 4, or --gpus auto for every GPU of this machine",
    )


def _check_sizes(**sizes: int | None) -> None:
    for name, value in sizes.items():
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} must be >= 1, got {value}", f"Pass {flag} 1 or more")


def _as_asked(
    spec: ModelSpec, cfg: TrainConfig, hw: Hardware, rec: Recommendation, effective_batch: int
) -> tuple[Candidate, list[Candidate], str | None]:
    """The configuration the user asked for, with the recommender's picks as alternatives
    (their speed relative to it), and a suggestion when it does not fit but they do."""
    chosen = Candidate(cfg, estimate(spec, cfg), hw.free_gib, "as asked", effective_batch)
    alternatives = [c for c in ([rec.best] if rec.best else []) + rec.alternatives][:3]
    ref = flops_per_token(spec, cfg) * mfu_penalty(cfg)
    for alt in alternatives:
        alt.relative_speed = ref / (flops_per_token(spec, alt.cfg) * mfu_penalty(alt.cfg))
    suggestion = rec.suggestion
    if not chosen.fits and rec.best is not None:
        suggestion = (
            f"the recommended set-up fits: {rec.best.label}, batch {rec.best.cfg.batch_size}"
        )
    return chosen, alternatives, suggestion


def _these(hw: Hardware) -> str:
    return "this GPU" if hw.n_gpus == 1 else f"these {hw.n_gpus} GPUs"


def _recommended(rec: Recommendation) -> tuple[Candidate, list[Candidate], str | None]:
    """The recommender's pick; when nothing fits, the last (smallest) configuration tried."""
    if rec.best is not None:
        return rec.best, rec.alternatives, rec.suggestion
    return rec.tried[-1], [], rec.suggestion


def _processes_note(processes: int, per_process_gib: float, parallel: str | None) -> str:
    """CPU ranks share one machine's RAM, and accelerate shards only on GPUs: on CPU every
    strategy runs as DDP, each process with a whole copy of what it trains."""
    note = f"{processes} CPU processes share this RAM: {processes} x {per_process_gib:.1f} GiB"
    if parallel in ("fsdp", "zero2", "zero3"):
        note += f"; {parallel} shards only on GPUs, so on CPU each process holds a whole copy"
    return note


def _host_shortfall(est: Any, hw: Hardware) -> str | None:
    """With `offload: cpu`, this machine's RAM must hold what the ranks move there (checked
    only when planning for the GPUs probed here: a catalog GPU's host is unknown). Returns
    the note saying why it does not, or None when it does."""
    if not est.host_offload_gib or hw.source != "probe":
        return None
    import psutil

    ram = psutil.virtual_memory().available / 2**30
    if est.host_offload_gib <= ram * (1.0 - FIT_MARGIN):
        return None
    return f"host RAM: {ram:.1f} GiB available, offload needs {est.host_offload_gib:.1f}"


def _model_dict(spec: ModelSpec) -> dict[str, Any]:
    c = spec.counts()
    return {
        "id": spec.id,
        "hf_id": spec.hf_id or None,
        "family": spec.family,
        "params": c.total,
        "active_params": c.active,
        "layers": spec.num_hidden_layers,
        "hidden_size": spec.hidden_size,
        "vocab_size": spec.vocab_size,
        "moe": spec.is_moe,
        "approx": spec.approx,
        **params_source(spec),  # a hub model: exact count from the headers, or why not
    }


def _calibrate(
    chosen: Candidate, hw: Hardware, spec: ModelSpec, rows: Sequence[Measurement]
) -> dict[str, Any] | None:
    """Scale the chosen estimate by the measured/planned ratio of similar jobs run on this
    machine (same GPU, architecture and size bucket, method, bits); the plan's
    ``calibration`` object, or None when nothing similar was measured. The raw figure
    stays in it: the worker learns against the formula, never against an already
    corrected number."""
    found = correction(
        list(rows), gpu=hw.name, architecture=architecture_key(spec.family, spec.counts().total),
        method=chosen.cfg.method, bits=chosen.cfg.weight_bits, precision=chosen.cfg.precision,
        formula=FORMULA, grad_ckpt=chosen.cfg.gradient_checkpointing,
    )  # fmt: skip
    if found is None:
        return None
    raw = chosen.estimate.total_gib
    chosen.estimate = found.apply(chosen.estimate)
    return {"ratio": round(found.ratio, 4), "runs": found.runs, "note": found.note,
            "raw_total_gib": round(raw, 3)}  # fmt: skip


# Longer than 60 lines only because its signature lists every planned option by name (the
# option vocabulary's, so a recipe's plan request is passed as it is); the body is short.
def build_plan(
    model: str | None = None,
    *,
    params: str | None = None,
    gpu: str | None = "auto",
    gpus: int | str = 1,
    method: str | None = None,
    bits: int | None = None,
    rank: int | None = None,
    targets: str | None = None,
    dropout: float | None = None,
    liger: bool | None = None,
    batch: int | None = None,
    grad_accum: int | None = None,
    cutoff_len: int | None = None,
    grad_ckpt: bool | None = None,
    optim: str | None = None,
    precision: str | None = None,
    attn: str | None = None,
    stage: str = "sft",
    parallel: str | None = None,
    offload: str | None = None,
    effective_batch: int = 16,
    dataset_tokens: int | None = None,
    epochs: float = 1.0,
    max_steps: int | None = None,
    probe_result: Any = None,
    calibration: Sequence[Measurement] | None = None,
) -> dict[str, Any]:
    """The ``tunetui plan --json`` object (see the module docstring).

    ``model`` None means the default model, or a generic shape when ``params`` is given.
    The keywords are the option vocabulary's names (`tunetui.options`), so a recipe's
    `runner.flags.plan_request` is passed as it is. ``calibration``: this machine's
    measurements (`runner.calibration.measurements`); similar ones correct the estimate.
    """
    gpus = parse_gpus(gpus)
    _check_sizes(cutoff_len=cutoff_len, batch=batch, rank=rank, grad_accum=grad_accum)
    method = _check_choices(
        stage=stage, method=method, bits=bits, rank=rank, targets=targets, dropout=dropout,
        optim=optim, precision=precision, attn=attn, parallel=parallel,
    )  # fmt: skip
    spec = resolve_model(model, params)
    hw = resolve_hardware(gpu, gpus, probe_result)
    if precision == "bf16" and hw.device == "cuda" and not hw.bf16:
        raise UserError(
            f"{hw.name} has no native bf16 (compute capability below 8.0)",
            "Use --precision fp16 (or fp32)",
        )
    seq_len = cutoff_len or default("cutoff_len")
    attn = attn or default("attn")
    flags = {"method": method, "bits": bits, "rank": rank, "targets": targets, "batch": batch,
             "grad_accum": grad_accum, "grad_ckpt": grad_ckpt, "optim": optim,
             "precision": precision, "dropout": dropout}  # fmt: skip
    if grad_accum is not None:
        effective_batch = (batch or default("batch")) * grad_accum * hw.n_gpus
    explicit = any(v is not None for v in flags.values()) or offload not in (None, "none")
    rec = recommend(
        spec, hw.free_gib, stage=stage, seq_len=seq_len, effective_batch=effective_batch,
        n_gpus=hw.n_gpus, bf16=hw.bf16, compute_capability=hw.compute_capability,
        device=hw.device, lora_rank=rank or default("rank"), attn=attn, parallel=parallel,
        lora_dropout=default("dropout") if dropout is None else dropout,
        loss_impl=loss_impl(liger, stage),
    )  # fmt: skip
    proposal = rec.proposal
    if explicit:
        asked = {**flags, "parallel": parallel, "liger": liger, "offload": offload}
        cfg = _explicit_config(asked, seq_len, stage, hw, attn)
        chosen, alternatives, suggestion = _as_asked(spec, cfg, hw, rec, effective_batch)
        proposal = None
        if chosen.estimate.total_gib > hw.free_gib * (1.0 - FIT_MARGIN):
            proposal = spread(spec, cfg, hw.free_gib, effective_batch,
                              strategy_given=parallel is not None,
                              ckpt_given=grad_ckpt is not None,
                              batch_given=batch is not None)  # fmt: skip
        if proposal is not None:
            here = f"; on {_these(hw)}: {suggestion}" if suggestion else ""
            suggestion = describe_proposal(spec, proposal) + here
    else:
        chosen, alternatives, suggestion = _recommended(rec)
    calibrated = _calibrate(chosen, hw, spec, calibration or [])
    est = chosen.estimate
    needed = est.total_gib * hw.processes  # the figures are per process; the RAM is shared
    if hw.processes > 1:
        est.notes.append(_processes_note(hw.processes, est.total_gib, parallel))
    over = needed - hw.free_gib
    recommendation = chosen.to_dict()
    budget = 1.0 - FIT_MARGIN if explicit else TARGET_FRACTION
    host_short = _host_shortfall(est, hw)
    if host_short:
        est.notes.append(host_short)
    recommendation["fits"] = needed <= hw.free_gib * budget and not host_short
    recommendation["over_by_gib"] = round(over, 2) if over > 0 else 0.0
    # the share of free memory the job takes on this machine, like `fits` and `over_by_gib`
    recommendation["vram_fraction"] = round(chosen.vram_fraction * hw.processes, 3)
    if max_steps:  # a step budget fixes the tokens trained on, whatever the dataset size
        dataset_tokens, epochs = max_steps * effective_batch * seq_len, 1.0
    t = estimate_time(spec, chosen.cfg, hw.tflops, dataset_tokens, epochs, hw.cpu_cores)
    return {
        "version": PLAN_VERSION,
        "formula": FORMULA,  # the calibration file keys its rows by it
        "mode": "estimate" if explicit else "recommend",
        "hardware": hw.to_dict(),
        "model": _model_dict(spec),
        "estimate": est.to_dict(),
        "recommendation": recommendation,
        "alternatives": [a.to_dict() for a in alternatives],
        "suggestion": suggestion,
        # Where the job fits when it does not here: GPU count + strategy, per-GPU figures.
        "proposal": proposal.to_dict() if proposal is not None else None,
        "time": t.to_dict(),
        "calibration": calibrated,
    }
