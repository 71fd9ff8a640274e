"""What the device holds beyond torch's peak allocation: the allocator's fragmentation, the
CUDA context, NCCL's buffers (or, on CPU, the Python runtime).

``allocated`` is what ``torch.cuda.max_memory_allocated`` reports. The caching allocator
rounds blocks and cannot reuse a free block for a larger request, or a block freed on another
stream before that stream's work is done, so ``reserved`` exceeds ``allocated`` by a share of
the memory that churns during a step (activations, gradients, transient buffers), not of the
resident weights and optimizer states (allocated once, never freed). That share depends on
the method: FSDP/ZeRO-3 gather and reduce-scatter whole layers on side streams, and
bitsandbytes dequantises each 4/8-bit linear into a fresh buffer of its own shape, so both
leave far more unusable free blocks than a plain step does. ``total`` (what nvidia-smi
shows) adds the CUDA context and, with more than one GPU, NCCL's communicator buffers.

Constants (see planner/README.md "Reserved and total"): fitted on fms-acceleration's A100
runs, which report both ``max_memory_allocated`` and nvidia-smi's peak for the same job.
"""

from __future__ import annotations

from .trainconfig import GIB, Estimate, TrainConfig

# share of the churning memory the allocator cannot hand back (reserved - allocated)
CHURN_FRAGMENTATION = 0.05  # plain step: activations of a few recurring sizes
CHURN_FRAGMENTATION_SHARDED_OR_KBIT = 0.32  # FSDP/ZeRO-3 side-stream gathers, bnb dequant
RESERVED_BLOCK_GIB = 0.125  # a partly used large segment at the top of the peak
NCCL_GIB = 0.5  # communicator buffers per process when more than one GPU talks
# RSS of the worker besides the model's tensors, at the training peak: torch + transformers +
# trl imported, the tokenizer and the datasets (0.57 GiB measured before the first step on
# the CPU bench job, bench/cpu_sft.py), plus what training adds outside the tensors: oneDNN's
# kernels for each padded length (16 below 512 tokens, runner.train.hostmem) and the
# allocator's free pages at the peak, 0.13-0.19 GiB there (bf16, with and without
# checkpointing).
CPU_RUNTIME_GIB = 0.75


def cuda_context_gib(compute_capability: tuple[int, int] | None) -> float:
    """CUDA context + kernel images outside torch's allocator, by architecture (measured
    typical values with lazy module loading; Hopper's larger cuBLAS/cuDNN images cost more).
    Pascal (6.x) has the smallest images; an unknown architecture gets the largest known
    figure, so a card we cannot place is never planned as roomier than one we can."""
    if not compute_capability:
        return 0.6
    major = compute_capability[0]
    return {6: 0.3, 7: 0.35, 8: 0.45, 9: 0.55, 10: 0.6, 12: 0.5}.get(major, 0.6)


def churn_fragmentation(cfg: TrainConfig) -> float:
    """The allocator's waste as a share of the memory that churns in a step, for this
    method (see the module docstring)."""
    sharded = cfg.parallel in ("fsdp", "zero3")
    if sharded or cfg.weight_bits < 16:
        return CHURN_FRAGMENTATION_SHARDED_OR_KBIT
    return CHURN_FRAGMENTATION


def device_totals(
    cfg: TrainConfig,
    allocated: float,
    resident: float,
    breakdown: dict[str, float],
    opt_out: float,
    n_train: float,
    phase: str,
    phases: tuple[float, float] | None = None,
) -> Estimate:
    """Add what lies outside the allocator's count (bytes in, GiB out): on CPU the
    Python/torch runtime, on a GPU fragmentation, the CUDA context and NCCL.

    ``phases`` (sharded FSDP: forward/backward churn, optimizer-step churn): the step's
    memory does not reuse the blocks forward and backward left in the cache, because its
    gradients come out of FSDP's reduce-scatter stream and the caching allocator never
    hands one stream's cached block to another; so both phases are reserved side by side,
    each with its own waste (the step's few fixed-size buffers at the plain share).
    """
    notes: list[str] = []
    if opt_out:
        breakdown["paged_optimizer"] = opt_out
        notes.append("paged AdamW states live in unified memory and can spill to host RAM")
    if cfg.device == "cpu":
        breakdown["runtime"] = CPU_RUNTIME_GIB * GIB
        total = allocated + breakdown["runtime"] + opt_out
        out_bd = {k: v / GIB for k, v in breakdown.items() if v}
        a = allocated / GIB
        return Estimate(a, a, total / GIB, out_bd, n_train, "cpu", phase, notes)
    churn = max(0.0, allocated - resident)
    reserved = allocated + churn_fragmentation(cfg) * churn + RESERVED_BLOCK_GIB * GIB
    if phases is not None:
        forward, step = phases
        apart = (1 + churn_fragmentation(cfg)) * forward + (1 + CHURN_FRAGMENTATION) * step
        reserved = resident + apart + RESERVED_BLOCK_GIB * GIB
    breakdown["fragmentation"] = reserved - allocated
    breakdown["cuda_context"] = cuda_context_gib(cfg.compute_capability) * GIB
    if cfg.n_gpus > 1 and cfg.parallel != "none":
        breakdown["nccl"] = NCCL_GIB * GIB
    total = reserved + breakdown["cuda_context"] + breakdown.get("nccl", 0.0) + opt_out
    out_bd = {k: v / GIB for k, v in breakdown.items() if v}
    return Estimate(
        allocated / GIB, reserved / GIB, total / GIB, out_bd, n_train, "cuda", phase, notes
    )
