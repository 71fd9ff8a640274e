"""Host-memory settings for a training run on CPU (issue 18: where the memory went).

Profiled on the CPU benchmark job (SmolLM2-135M, LoRA r8, batch 2 x 512 tokens), one
micro-batch's peak was 4.4-4.6 GiB (fp32) against 2.3 GiB of live tensors. Two causes,
neither of them the model or its activations:

1. **trl's fused LM head tiles.** trl computes the loss without materialising the logits, in
   tiles of ``TOKEN_CHUNK_SIZE`` (4096) tokens x ``_CHUNKED_LOGPROB_CHUNK_SIZE`` (32768) vocab
   columns. On a GPU a Triton kernel folds each tile in place; on a CPU the fallback does it
   with whole-tile torch ops, each a temporary the size of the tile (1022 x 32768 fp32 =
   134 MB here), so the forward added 0.54 GiB and the backward 1.07 GiB on top of the
   activations. Smaller tiles on CPU keep the same arithmetic (online logsumexp) with
   temporaries of a few MB: the head's share fell to about 0.07 GiB, at no cost in time.
   This is what a CPU run applies.
2. **glibc's heap.** glibc serves an allocation below its mmap threshold from the heap, and
   raises the threshold (up to 32 MB) every time a larger mapped block is freed, so after
   the first step the activations come from a heap it rarely returns: +1.1 GiB in fp32,
   +0.4-0.8 GiB in bf16. A fixed threshold (``MALLOC_MMAP_THRESHOLD_``) gives it back, but
   every mapping costs page faults: measured on 8 micro-batches in bf16, 128 KiB saved
   0.65 GiB for +60% time, 2 MiB 0.4 GiB for +10-40% (+40% with checkpointing, whose
   tensors are small). Speed wins on a machine that has the RAM, so it is not applied; a
   user short of RAM can export ``MALLOC_MMAP_THRESHOLD_=2097152`` before ``tunetui run``.
   (Fewer malloc arenas made no reliable difference.)

Then, measured on the whole bench run with RSS per micro-batch (issue 18, second pass): live
tensors stayed at 0.28 GiB between steps while the process grew from 0.7 to 1.4-1.9 GiB,
and the peak came in step 6, on a batch shorter than step 1's. Two more causes:

3. **A new sequence length costs memory for the rest of the run.** oneDNN (the CPU matmul
   library) compiles and caches kernels per input shape, and with every distinct padded
   length the process kept ~10-20 MB more (a loop over 14 lengths: +0.29 GiB; +0.14 GiB
   with oneDNN's cache off, which made training 6x slower). Padding each batch to a
   multiple of ``CPU_PAD_MULTIPLE`` tokens bounds the distinct lengths (16 below 512) for
   the same reason trl pads on Neuron. On the bench, padding to 64: peak 2.26 -> 2.03 GiB
   with glibc, no loss of speed (fewer compilations pay for the padding).
4. **glibc keeps what it freed** (point 2). A CPU run's worker is started with mimalloc
   (`allocator`), which gives pages back without glibc's page-fault cost: with the three
   changes above, 2.03 -> 1.77 GiB at the same samples/s (1.83 GiB padding to 32, the
   default: see CPU_PAD_MULTIPLE).

A GPU run's host side and its Triton kernels are left alone.
"""

from __future__ import annotations

from typing import Any

from tunetui.planner.estimator import CPU_PAD_MULTIPLE, HEAD_TILE_CPU

# trl's defaults are tuned for GPUs; these keep the CPU fallback's temporaries to ~4 MB each
# (the planner counts the same tiles).
CPU_HEAD_TOKENS, CPU_HEAD_VOCAB = HEAD_TILE_CPU


def tune_for_cpu() -> list[str]:
    """Apply the CPU settings; returns what was changed, for ``train.log``."""
    from tunetui.runner.allocator import allocator_in_use

    done = []
    if small_head_tiles():
        done.append(f"loss: LM head in tiles of {CPU_HEAD_TOKENS} tokens x {CPU_HEAD_VOCAB}")
    done.append(f"batches padded to a multiple of {CPU_PAD_MULTIPLE} tokens")
    malloc = allocator_in_use()
    done.append(
        f"allocator: {malloc}"
        + ("" if malloc != "glibc" else " (pip install cmeel-mimalloc to give freed memory back)")
    )
    return done


def head_tile_settings() -> tuple[Any, Any]:
    """The two trl modules whose constants size the fused LM head's tiles. Private names, so a
    test pins them: a trl release that renames them fails that test instead of silently
    bringing the 1 GiB back."""
    import trl.kernels.chunked_logprob as kernel
    import trl.trainer.utils as trainer_utils

    return kernel, trainer_utils


def small_head_tiles() -> bool:
    """Shrink the fused head's tiles (read by trl at each forward and backward)."""
    kernel, trainer_utils = head_tile_settings()
    if not hasattr(kernel, "TOKEN_CHUNK_SIZE") or not hasattr(
        trainer_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE"
    ):
        return False
    kernel.TOKEN_CHUNK_SIZE = min(kernel.TOKEN_CHUNK_SIZE, CPU_HEAD_TOKENS)
    trainer_utils._CHUNKED_LOGPROB_CHUNK_SIZE = min(
        trainer_utils._CHUNKED_LOGPROB_CHUNK_SIZE, CPU_HEAD_VOCAB
    )
    return True


def bf16_matmuls_for_fp32_copies() -> bool:
    """Let oneDNN run fp32 matmuls with bf16 inputs and fp32 accumulation, in a bf16 run on a
    CPU with native bf16.

    Under bf16 autocast the only fp32 matmuls left are the ones code runs in fp32 on purpose
    on values that are bf16 already: trl's fused LM head accumulates the hidden-state
    gradient as ``acc.addmm_(tile.float(), w_chunk.float())`` on CPU (rounding each
    vocabulary chunk's product to bf16 would bias the entropy; trl's docstring), and both
    operands came from bf16 tensors, so converting them back is exact and the accumulation
    stays fp32: 4.1 -> 1.8 ms per tile on the Xeon with AMX, a relative difference of 5e-7.
    Not applied to fp32 runs, whose matmuls must stay fp32. Returns False where this torch
    has no such switch.
    """
    import torch

    matmul = getattr(torch.backends.mkldnn, "matmul", None)
    if matmul is None or not hasattr(matmul, "fp32_precision"):
        return False
    matmul.fp32_precision = "bf16"
    return True
