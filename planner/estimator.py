"""Peak training memory per GPU, term by term, from the architecture alone.

(Over 450 lines on purpose: the terms below are one formula over one TrainConfig, and each
constant sits beside the term it feeds with the measurement behind it; the parts that stand
alone live in overhead (what lies outside the allocator), modelspec and trainconfig.)

``estimate(model, cfg)`` is pure arithmetic (no torch) and takes well under a millisecond, so
the TUI can redraw its VRAM bar on every keystroke. Every constant is physical and
documented in planner/README.md (where it comes from); nothing is fitted per benchmark row.

The peak is the larger of two moments of a training step:

* end of forward / start of backward: resident state (weights, adapters, optimizer states,
  a frozen reference model) + every saved activation + the logits/loss spike (+ gradients
  when accumulating: they stay alive across micro-batches);
* optimizer step: resident state + all gradients + optimizer scratch.

``allocated`` is what ``torch.cuda.max_memory_allocated`` reports; ``reserved`` and
``total`` (what nvidia-smi shows) add what lies outside that count (`planner.overhead`).
The types (`TrainConfig`, `Estimate`) live in `planner.trainconfig` and are re-exported here.
"""

from __future__ import annotations

from .models import ModelSpec
from .overhead import CPU_RUNTIME_GIB, cuda_context_gib, device_totals
from .trainconfig import FLASH, GIB, LOSS_IMPLS, PRECISIONS, Estimate, TrainConfig

__all__ = [
    "CPU_RUNTIME_GIB", "GIB", "LOSS_IMPLS", "PRECISIONS", "Estimate", "TrainConfig",
    "cuda_context_gib", "estimate", "layer_activation_bytes", "trainable_params",
]  # fmt: skip

# --- physical constants (see planner/README.md for the derivation of each) ---------------
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit codes + 8-bit absmax per 64 + fp32 per 256
NF4_BYTES_NO_DQ = 0.5 + 4 / 64  # fp32 absmax per block of 64 without double quantisation
INT8_BYTES = 1.0  # LLM.int8 weights; the per-row fp32 scale is added per linear
# trl's fused LM head scores (tokens x vocab) tiles: trl's sizes on a GPU, where a Triton
# kernel folds each tile in place; the runner's smaller ones on a CPU, where torch ops do it
# with about HEAD_TILE_CPU_COPIES tile-sized temporaries (runner.train.hostmem).
HEAD_TILE_GPU = (4096, 32768)
HEAD_TILE_CPU = (256, 4096)
HEAD_TILE_CPU_COPIES = 8
# A CPU run pads each batch to a multiple of this many tokens: oneDNN keeps kernels per shape,
# and each new length cost 10-20 MB for the rest of the run (runner.train.hostmem, point 3).
# 16 distinct lengths up to 512. Multiples of 64 / 32 / 16 measured 1.77 / 1.83 / 1.90 GiB on
# the CPU bench job; 32 ran 4.6% faster than 64 (2.45 vs 2.34 samples/s, fewer padding
# tokens), which decided it.
CPU_PAD_MULTIPLE = 32
# transformers' loss at its peak in backward, per token per vocabulary entry: the fp32
# log-softmax output it keeps, its incoming gradient and the logits' gradient. The bf16 logits
# are already gone (the Trainer drops the outputs before backward). Measured by
# bench/loss_path.py, the same with transformers 4.45, 4.48 and 5.x; with the head's
# (RMSNORM_FP32_BYTES + activation bytes) per token per hidden unit beside it.
HF_LOSS_BYTES = 12
RMSNORM_FP32_BYTES = 4  # HF RMSNorm upcasts its input to fp32 and autograd keeps that copy
GALORE_RANK = 128  # HF Trainer's default GaLore rank
BNB_8BIT_STATE_BYTES = 2.0  # two uint8 states; the per-2048 fp32 absmax is negligible

# --------------------------------------------------------------------------- helpers
_ATTN_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj")


def targeted_linears(model: ModelSpec, cfg: TrainConfig) -> list[tuple[str, int, int, int]]:
    """The per-layer linears that get a LoRA adapter.

    ``all`` is peft's ``all-linear``: every decoder nn.Linear. MoE experts are fused 3-D
    parameters in transformers 5 (not nn.Linear), so they get no adapter.
    """
    lins = [x for x in model.linears() if not x[0].startswith("experts.")]
    t = cfg.targets
    if t == "all":
        return lins
    if t == "attn":
        return [x for x in lins if x[0] in _ATTN_NAMES]
    if t == "qv":
        return [x for x in lins if x[0] in ("q_proj", "v_proj")]
    names = set(t)
    return [x for x in lins if x[0] in names or x[0].rsplit(".", 1)[-1] in names]


def trainable_params(model: ModelSpec, cfg: TrainConfig) -> int:
    """Parameters that receive gradients (adapters, the last N layers, or everything)."""
    counts = model.counts()
    if cfg.method == "full":
        return counts.total
    if cfg.method == "freeze":
        return min(cfg.freeze_layers, model.num_hidden_layers) * counts.per_layer
    per_layer = 0
    for _, fan_in, fan_out, copies in targeted_linears(model, cfg):
        per_layer += copies * cfg.lora_rank * (fan_in + fan_out)
        if cfg.method == "dora":
            per_layer += copies * fan_out  # the magnitude vector
    return per_layer * model.num_hidden_layers


def padded_length(cfg: TrainConfig) -> int:
    """The longest batch's padded length: the cutoff, rounded up to CPU_PAD_MULTIPLE on a CPU,
    where the runner pads every batch to that multiple (runner.train.hostmem)."""
    if cfg.device != "cpu":
        return cfg.seq_len
    return -(-cfg.seq_len // CPU_PAD_MULTIPLE) * CPU_PAD_MULTIPLE


def _act_bytes(cfg: TrainConfig) -> int:
    return 4 if cfg.precision == "fp32" else 2


def residual_bytes(cfg: TrainConfig) -> int:
    """Bytes per element of the residual stream between layers (what checkpointing keeps).

    It takes the embedding's dtype: fp32 when the weights are fp32 (mixed precision with
    fp32 masters) or when prepare_model_for_kbit_training upcast the embedding; autocast
    only narrows the outputs of matmuls, and fp32 + bf16 residual adds stay fp32.
    """
    if cfg.precision == "fp32" or (not cfg.pure and not cfg.is_adapter):
        return 4
    return 4 if cfg.upcast_non_quantized and cfg.weight_bits < 16 else 2


def layer_activation_bytes(model: ModelSpec, cfg: TrainConfig, trainable_layer: bool) -> float:
    """Bytes autograd keeps per token for one decoder layer (Korthikanti et al. 2022, redone
    for RMSNorm + GQA + SwiGLU and for what a frozen base actually saves).

    A linear saves its input only when its weight needs a grad (full/freeze) or it carries a
    LoRA adapter; frozen weights pass gradients through without saving anything. Element-wise
    ops save what their backward needs: SiLU its input, the gate*up product both factors,
    RMSNorm the fp32 copy of its input (and its normalised output when its weight trains).
    """
    e = _act_bytes(cfg)
    h, q, kv = model.hidden_size, model.q_dim, model.kv_dim
    full = cfg.method in ("full", "freeze") and trainable_layer
    adapted = {n for n, *_ in targeted_linears(model, cfg)} if cfg.is_adapter else set()

    dropout = cfg.is_adapter and cfg.lora_dropout > 0
    base_saves = cfg.kbit_saves_inputs and cfg.weight_bits < 16

    def saves(name: str) -> bool:
        """Does this linear's backward need its input (weight grad or adapter)?"""
        return full or name in adapted

    def keeps_input(name: str) -> bool:
        """Is the linear's own (shared) input tensor kept? With LoRA dropout the adapter
        keeps its dropped copy instead; old 4-bit matmuls keep the input themselves."""
        return full or base_saves or (name in adapted and not dropout)

    norm = RMSNORM_FP32_BYTES * h + (e * h if full else 0)
    total = model.norms_per_layer * norm
    if model.qk_norm:
        total += RMSNORM_FP32_BYTES * (q + kv) + (e * (q + kv) if full else 0)
    # adapter-side tensors: the dropout mask + dropped copy (per adapter), A's output, DoRA
    for name, fan_in, fan_out, copies in model.linears():
        if name not in adapted:
            continue
        k = copies if not name.startswith("experts.") else 0
        total += k * e * cfg.lora_rank
        if dropout:
            total += k * (1 + e) * fan_in
        if cfg.method == "dora":
            total += k * 2 * e * fan_out  # base output + lora output kept for the magnitude
    if any(keeps_input(n) for n in ("q_proj", "k_proj", "v_proj")):
        total += e * h
    # attention: q, k, v, output (+ fp32 logsumexp); eager keeps the probabilities too
    kv_saved = kv if cfg.attn == FLASH else q  # sdpa with a padding mask repeats k/v
    total += e * (2 * q + 2 * kv_saved) + 4 * model.num_attention_heads
    if cfg.fused_qkv:
        total += e * (q + kv)  # the q and k thirds of the qkv buffer, pinned by v's view
    if cfg.attn == "eager":
        total += (4 + e) * model.num_attention_heads * padded_length(cfg)
    if keeps_input("o_proj"):
        total += e * q
    total += _mlp_activation_bytes(model, saves, keeps_input, e)
    return total


def _mlp_activation_bytes(model: ModelSpec, saves, keeps_input, e: int) -> float:
    h = model.hidden_size
    if model.is_moe:
        inter = model.moe_intermediate_size or model.intermediate_size
        k = model.num_experts_per_tok
        experts_train = saves("experts.gate_proj")
        per_expert = 3 * e * inter + (e * h + e * inter if experts_train else 0)
        router = 8 * model.num_experts + (e * h if saves("gate") else 0)
        shared = 0.0
        if model.shared_expert_intermediate_size:
            s = model.shared_expert_intermediate_size
            shared = 3 * e * s + (e * s if saves("shared_expert.down_proj") else 0)
        return k * per_expert + router + shared + (e * h if keeps_input("gate") else 0)
    inter = model.intermediate_size
    total = 0.0
    if keeps_input("gate_proj") or keeps_input("up_proj"):
        total += e * h
    total += (3 if model.gated_mlp else 1) * e * inter  # act input (+ act output, up output)
    if keeps_input("down_proj"):
        total += e * inter
    return total


def _weights_bytes(model: ModelSpec, cfg: TrainConfig) -> float:
    """Resident weights at their real dtype (NF4/int8 for decoder linears only)."""
    c = model.counts()
    if cfg.weight_bits == 16:
        return c.total * _unquantised_width(cfg)
    rest = (c.embed + c.lm_head + c.other) * _unquantised_width(cfg)
    if cfg.weight_bits == 4:
        per = NF4_BYTES if cfg.double_quant else NF4_BYTES_NO_DQ
        return c.linear * per + rest
    scales = model.num_hidden_layers * sum(o * n * 4 for _, _, o, n in model.linears())
    return c.linear * INT8_BYTES + scales + rest


def _quant_state_bytes(model: ModelSpec, cfg: TrainConfig) -> float:
    """The quantisation constants of 4/8-bit weights (NF4 absmax blocks, int8 row scales).

    bitsandbytes keeps them as an attribute of the weight (``quant_state``, ``SCB``), not as
    a parameter, so FSDP and ZeRO-3 shard the packed codes and leave every rank a whole
    copy of these (fms-acceleration's 2-GPU QLoRA runs hold 0.1 / 0.4 / 0.8 GiB more after
    training than half the 1-GPU figure for Mistral-7B / Mixtral / Llama-2-70B).
    """
    c = model.counts()
    if cfg.weight_bits == 4:
        per = NF4_BYTES if cfg.double_quant else NF4_BYTES_NO_DQ
        return c.linear * (per - 0.5)
    if cfg.weight_bits == 8:
        return model.num_hidden_layers * sum(o * n * 4 for _, _, o, n in model.linears())
    return 0.0


def _unquantised_width(cfg: TrainConfig) -> int:
    """Bytes per parameter of what is not quantised (every weight at 16 bits; embeddings,
    lm_head and norms beside 4/8-bit linears, fp32 when prepare_model_for_kbit_training
    upcast them): fp32 masters (fp32, or mixed precision for full/freeze), else 2."""
    full_width = 4 if (cfg.precision == "fp32" or (not cfg.pure and not cfg.is_adapter)) else 2
    return 4 if cfg.weight_bits < 16 and cfg.upcast_non_quantized else full_width


def _layer_stored_bytes(model: ModelSpec, cfg: TrainConfig) -> float:
    """One decoder layer as stored: NF4/int8 linears + the rest (norms) at their width."""
    per_layer = model.counts().per_layer
    if cfg.weight_bits == 16:
        return per_layer * _unquantised_width(cfg)
    linear = sum(i * o * n for _, i, o, n in model.linears())
    per = {4: NF4_BYTES if cfg.double_quant else NF4_BYTES_NO_DQ, 8: INT8_BYTES}[cfg.weight_bits]
    return linear * per + max(0, per_layer - linear) * _unquantised_width(cfg)


def _trainable_width(cfg: TrainConfig) -> int:
    """Bytes per trainable parameter (and per gradient element)."""
    if cfg.precision == "fp32":
        return 4
    if cfg.is_adapter:
        # peft keeps adapters fp32 (autocast_adapter_dtype); trl casts QLoRA adapters to bf16
        return 2 if cfg.weight_bits < 16 else 4
    return 2 if cfg.pure else 4


def _optimizer_bytes(model: ModelSpec, cfg: TrainConfig, n_train: int) -> tuple[float, float]:
    """(bytes inside torch's allocator, bytes outside it: paged/unified memory)."""
    width = _trainable_width(cfg)
    if cfg.optimizer in ("adamw", "adamw_fused"):
        return 2 * width * n_train, 0.0
    if cfg.optimizer == "adamw_8bit":
        return BNB_8BIT_STATE_BYTES * n_train, 0.0
    if cfg.optimizer == "paged_adamw":
        return 0.0, 8.0 * n_train  # bnb 32-bit states in cudaMallocManaged pages
    if cfg.optimizer == "sgd":
        return 0.0, 0.0
    # GaLore: Adam states on rank-r projections of every 2-D decoder weight, plain Adam else
    if cfg.is_adapter:
        return 2 * width * n_train, 0.0
    layers = model.num_hidden_layers if cfg.method == "full" else cfg.freeze_layers
    projected = 0.0
    covered = 0
    for _, fan_in, fan_out, copies in model.linears():
        r = min(GALORE_RANK, fan_in, fan_out)
        projected += copies * (2 * r * max(fan_in, fan_out) + r * min(fan_in, fan_out)) * 4
        covered += copies * fan_in * fan_out
    rest = max(0, n_train - layers * covered)
    return layers * projected + 2 * width * rest, 0.0


def _step_scratch(cfg: TrainConfig, n_train: int) -> float:
    """Bytes the optimizer allocates only during ``step()``.

    torch's default multi-tensor ("foreach") AdamW computes ``sqrt(exp_avg_sq)`` for the whole
    parameter group at once (``torch._foreach_sqrt``): a temporary the size of one optimizer
    state, in the state's dtype. Fused AdamW (one kernel per tensor list, no intermediates),
    bitsandbytes' 8-bit/paged kernels and GaLore's per-parameter loop allocate none.
    """
    return n_train * _trainable_width(cfg) if cfg.optimizer == "adamw" else 0.0


# --------------------------------------------------------------------------- estimate
def estimate(model: ModelSpec, cfg: TrainConfig) -> Estimate:
    """Peak memory per GPU for training ``model`` with ``cfg`` (see the module docstring)."""
    counts = model.counts()
    n = cfg.n_gpus if cfg.parallel != "none" else 1
    shard_states = n if cfg.parallel in ("zero2", "zero3", "fsdp") else 1
    shard_weights = n if cfg.parallel in ("zero3", "fsdp") else 1
    pref = cfg.stage in ("dpo", "kto", "orpo", "rm")
    rows = cfg.batch_size * (2 if pref else 1)  # chosen+rejected (or completion+KL) rows
    tokens = rows * padded_length(cfg)

    state = _quant_state_bytes(model, cfg)  # a Params4bit/Int8Params attribute: unsharded
    weights = (_weights_bytes(model, cfg) - state) / shard_weights + state
    n_train = trainable_params(model, cfg)
    width = _trainable_width(cfg)
    adapters = n_train * width if cfg.is_adapter else 0.0
    grads = n_train * width / shard_states
    opt_in, opt_out = (x / shard_states for x in _optimizer_bytes(model, cfg, n_train))
    reference = 0.0
    if cfg.stage in ("dpo", "kto") and not cfg.is_adapter:
        reference = counts.total * 2 / shard_weights  # a frozen bf16 copy of the policy

    host = 0.0
    if cfg.offload == "cpu":  # the shards live in host RAM; the GPU keeps what it computes
        host = (weights - state + grads + opt_in + opt_out) * cfg.n_gpus
        weights = state  # bitsandbytes' quant state stays with its module
        opt_in = opt_out = 0.0
        grads = min(grads, counts.per_layer * width)  # one layer's, on its way out
    acts, spike, logits = _activations(model, cfg, tokens, n_train, fsdp_sharded(cfg))
    head_grad = 0.0
    if cfg.method == "full":  # the lm_head (or tied embedding) grad appears with the logits
        head_grad = (counts.lm_head or counts.embed) * width / shard_states
    workspace = _workspace(model, cfg, n, n_train * width)
    gathered = _gathered_bytes(model, cfg, shard_weights)
    persistent = weights + adapters + opt_in + reference
    # gradients outlive the step when accumulating (they sum across micro-batches), and
    # under DDP (grads are views of its buckets) and DeepSpeed ZeRO (a preallocated
    # partitioned buffer). FSDP without accumulation reduce-scatters each layer's grad in
    # backward and frees the unsharded one, and zero_grad(set_to_none) drops the shards.
    grads_kept = cfg.grad_accum > 1 or cfg.parallel in ("ddp", "zero2", "zero3")
    if cfg.optimizer_in_backward:  # each grad is applied and freed as soon as it exists
        grads = max(counts.lm_head, counts.embed, counts.per_layer) * width / shard_states
        head_grad = min(head_grad, grads)
    # gathered layers live only while layers run: optimizer.step() works on the shards
    fwd_peak = acts + spike + gathered + (grads if grads_kept else head_grad)
    scratch = 0.0 if cfg.optimizer_in_backward else _step_scratch(cfg, n_train) / shard_states
    step_peak = grads + scratch
    phase = "forward" if fwd_peak >= step_peak else "optimizer"
    allocated = persistent + workspace + max(fwd_peak, step_peak)

    breakdown = {
        "weights": weights + reference,
        "adapters": adapters,
        "gradients": grads if phase == "optimizer" or grads_kept else head_grad,
        "optimizer": opt_in,
        "activations": acts + (spike - logits) if phase == "forward" else 0.0,
        "logits": logits if phase == "forward" else 0.0,
        "optimizer_step": scratch if phase == "optimizer" else 0.0,
        "workspace": workspace + (gathered if phase == "forward" else 0.0),
    }
    phases = None
    if fsdp_sharded(cfg):  # the step's gradients come from the reduce-scatter stream
        phases = (workspace + fwd_peak, step_peak - (grads if grads_kept else 0.0))
    est = device_totals(cfg, allocated, persistent, breakdown, opt_out, n_train, phase, phases)
    if host:
        est.host_offload_gib = host / GIB
        est.notes.append(
            f"offload cpu: {host / GIB:.1f} GiB of weights, gradients and optimizer states in "
            f"host RAM per machine ({cfg.n_gpus} ranks); each step moves them over PCIe"
        )
    return est


def fsdp_sharded(cfg: TrainConfig) -> bool:
    """FSDP over more than one rank (on one rank torch's FSDP runs NO_SHARD: nothing is
    gathered, and the step is the plain one)."""
    return cfg.parallel == "fsdp" and cfg.n_gpus > 1


def _activations(
    model: ModelSpec, cfg: TrainConfig, tokens: int, n_train: float, sharded: bool = False
) -> tuple[float, float, float]:
    """(activations kept for backward, the largest transient spike, the logits and loss
    buffers within that spike) in bytes.

    ``sharded`` (FSDP over several ranks, `fsdp_sharded`): the loss's fp32 buffers (the
    upcast logits, the log-softmax output and their gradients: everything of the logits
    spike but the bf16 logits themselves) are still held when the last decoder layer is
    recomputed, so the two spikes add up instead of following each other (planner/README.md
    "FSDP": fms-acceleration's 2-GPU rows, no constant fitted).
    """
    e = _act_bytes(cfg)
    layers = model.num_hidden_layers
    trainable_layers = layers if cfg.method != "freeze" else min(cfg.freeze_layers, layers)
    # freeze trains the *last* layers: the layers below need no backward, so save nothing
    saved_layers = trainable_layers if cfg.method == "freeze" else layers
    per_layer = layer_activation_bytes(model, cfg, trainable_layer=True)
    vocab_out = 0 if cfg.stage == "rm" else model.vocab_size
    if cfg.loss_impl == "tiled" and vocab_out:
        logits = _head_tiles_bytes(model, cfg, tokens)
    else:
        logit_bytes = {"hf": HF_LOSS_BYTES, "chunked": 3 * e, "fused": 0, "tiled": 0}
        logits = tokens * vocab_out * logit_bytes[cfg.loss_impl]
    # the final norm's fp32 copy and the final hidden state (or its gradient)
    logits += tokens * (RMSNORM_FP32_BYTES + e) * model.hidden_size
    if cfg.gradient_checkpointing:
        # only each layer's input stays; one layer is recomputed at a time during backward,
        # after the loss backward has freed the logits (but for sharded FSDP, see above)
        kept = min(saved_layers, 2) if cfg.activation_offloading else saved_layers
        acts = tokens * kept * residual_bytes(cfg) * model.hidden_size
        recompute, loss_held = tokens * per_layer, 0.0
        if sharded:  # the loss's fp32 buffers ("hf" counts nothing else); else less the
            # bf16 logits
            bf16_logits = 0 if cfg.loss_impl == "hf" else tokens * vocab_out * e
            loss_held = max(0.0, logits - bf16_logits)
        spike = max(logits, recompute + loss_held)
        logits = logits if spike == logits else loss_held
    else:
        acts = tokens * saved_layers * per_layer
        spike = logits
    if not cfg.is_adapter and cfg.precision != "fp32" and not cfg.pure:
        acts += n_train * 2  # autocast caches bf16/fp16 copies of fp32 weights in forward
    return acts, spike, logits


def _head_tiles_bytes(model: ModelSpec, cfg: TrainConfig, tokens: int) -> float:
    """trl's fused LM head in backward (its larger half): the tile buffer (a cast of it on
    CPU) and the fp32 gradient of the hidden states it accumulates. Measured on the CPU
    bench job (2 x 512 tokens, vocab 49152): 0.07 GiB with the runner's tiles, against
    1.07 GiB with trl's GPU tiles run by torch ops."""
    rows, cols = HEAD_TILE_CPU if cfg.device == "cpu" else HEAD_TILE_GPU
    copies = HEAD_TILE_CPU_COPIES if cfg.device == "cpu" else 2
    # counted at fp32 whatever the compute dtype: the CPU fallback folds a float() copy
    tile = min(tokens, rows) * min(model.vocab_size, cols) * 4
    return copies * tile + tokens * 4 * model.hidden_size


def _workspace(model: ModelSpec, cfg: TrainConfig, n: int, grad_bytes: float) -> float:
    """Transient buffers: dequantised weights (QLoRA), DoRA's merged weight, DDP gradient
    buckets (the gathered weights of sharded runs are `_gathered_bytes`)."""
    workspace = 0.0
    biggest = max(i * o for _, i, o, _ in model.linears())
    if cfg.weight_bits < 16:
        workspace += biggest * _act_bytes(cfg)
    if cfg.method == "dora":
        workspace += biggest * 4  # W + scale*B@A materialised for the weight norm
    if cfg.parallel == "ddp" and n > 1:
        workspace += grad_bytes  # gradient buckets
    return workspace


def _gathered_bytes(model: ModelSpec, cfg: TrainConfig, shard_weights: int) -> float:
    """Weights all-gathered to full size while layers run (FSDP, ZeRO-3), at their stored
    width (4-bit for QLoRA), on top of each rank's shard.

    FSDP as accelerate wraps a transformers model: one unit per decoder layer, and the root
    unit holds the rest (embeddings, lm_head, final norm). torch's FSDP never reshards the
    root after forward (it would be gathered again at once for backward), so the root is
    whole from the first forward to the end of backward, beside the one decoder layer being
    computed. ZeRO-3: the current and the prefetched layer.
    """
    if shard_weights <= 1:
        return 0.0
    layer = _layer_stored_bytes(model, cfg)
    if cfg.parallel != "fsdp":
        return 2 * layer
    c = model.counts()
    return (c.embed + c.lm_head + model.hidden_size) * _unquantised_width(cfg) + layer
