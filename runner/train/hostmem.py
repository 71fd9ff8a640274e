"""Host-memory settings for a training run on CPU (issue 18: where the memory went).

Profiled on the CPU benchmark job (SmolLM2-135M, LoRA r8, batch 2 x 512 tokens, fp32), one
micro-batch's peak was 4.4-4.6 GiB against 2.3 GiB of live tensors. Two causes, neither of them
the model or its activations:

1. **trl's fused LM head tiles.** trl computes the loss without materialising the logits, in
   tiles of ``TOKEN_CHUNK_SIZE`` (4096) tokens x ``_CHUNKED_LOGPROB_CHUNK_SIZE`` (32768) vocab
   columns. On a GPU a Triton kernel folds each tile in place; on a CPU the fallback does it
   with whole-tile torch ops, each a temporary the size of the tile (1022 x 32768 fp32 =
   134 MB here), so the forward added 0.54 GiB and the backward 1.07 GiB on top of the
   activations. Smaller tiles on CPU keep the same arithmetic (online logsumexp) with
   temporaries of a few MB: the head's share fell to about 0.07 GiB.
2. **glibc's heap.** glibc serves an allocation below its mmap threshold from the heap, and
   raises the threshold (up to 32 MB) every time a larger mapped block is freed. After the
   first step nearly every activation comes from the heap, whose freed space is reused in
   pieces and rarely returned: the process held 1.1 GiB more than its tensors (fp32). A
   fixed threshold keeps the large tensors in their own mappings, returned to the system
   when freed. Each new mapping costs page faults, so the threshold is a trade: see
   `MMAP_THRESHOLD_BYTES`. (Fewer malloc arenas made no reliable difference.)

Both apply only to a CPU run; a GPU run's host side and its Triton kernels are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from typing import Any

from tunetui.planner.estimator import HEAD_TILE_CPU

# trl's defaults are tuned for GPUs; these keep the CPU fallback's temporaries to ~4 MB each
# (the planner counts the same tiles).
CPU_HEAD_TOKENS, CPU_HEAD_VOCAB = HEAD_TILE_CPU
# Measured on the bench job (8 micro-batches, 2 threads): bf16 peak 2.6 -> 2.2 GiB at 2 MiB;
# 128 KiB (glibc's initial value) reached 1.95 GiB but cost ~60% more time in page faults.
MMAP_THRESHOLD_BYTES = 2 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # from <malloc.h>


def tune_for_cpu() -> list[str]:
    """Apply both settings for a CPU run; returns what was changed, for ``train.log``."""
    done = []
    if fixed_mmap_threshold():
        done.append(f"heap: blocks over {MMAP_THRESHOLD_BYTES >> 20} MiB get their own mapping")
    if small_head_tiles():
        done.append(f"loss: LM head in tiles of {CPU_HEAD_TOKENS} tokens x {CPU_HEAD_VOCAB}")
    return done


def fixed_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (which also stops its dynamic raising). False where the C
    library is not glibc (musl, macOS): those allocators behave differently, nothing to do."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))


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
