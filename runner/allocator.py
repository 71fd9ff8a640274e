"""The malloc a CPU run's worker starts with: mimalloc when it is installed.

Why (issue 18, `runner.train.hostmem` point 4): on a CPU the activations live in host memory,
and glibc's malloc keeps what a step freed in its heap, so the process grows step after step
with 0.28 GiB of live tensors. glibc gives memory back only with a fixed mmap threshold, which
cost 27-60% of the speed. mimalloc returns freed pages without that cost. Measured on the CPU
bench job with the other CPU settings on: worker peak 2.03 -> 1.77 GiB, samples/s unchanged.

It is preloaded into the worker only (``LD_PRELOAD``), never into the CLI or the TUI, and only
for a run the plan put on the CPU: a GPU run's memory is on the GPU, and CUDA's pinned host
buffers have not been tried with it. mimalloc comes from the ``cmeel-mimalloc`` wheel (the
``train`` extra, Linux x86_64); a system jemalloc (``apt install libjemalloc2``) is the
fallback, measured the same here (1.80 vs 1.77 GiB with the other settings).
``TUNETUI_ALLOCATOR=system`` keeps glibc; a path to a ``.so`` preloads that library.

A GPU run's worker gets PyTorch's expandable segments instead
(``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True``): the caching allocator grows one
mapping per stream instead of carving fixed segments, so blocks of new sizes (bitsandbytes
dequantises each linear into a buffer of its own shape; FSDP gathers whole layers on a side
stream) fit into what is already reserved instead of fragmenting it. Published runs without
it reserve 10-55% above their peak allocation under QLoRA and FSDP (planner.overhead); Unsloth
turns it on by default. A user's own ``PYTORCH_CUDA_ALLOC_CONF`` or ``PYTORCH_ALLOC_CONF`` is
left alone, and ``TUNETUI_ALLOCATOR=system`` keeps PyTorch's default.
"""

from __future__ import annotations

import ctypes.util
import os
from importlib import metadata
from pathlib import Path

ALLOCATOR_ENV = "TUNETUI_ALLOCATOR"
_OFF = ("system", "glibc", "off", "none")


def mimalloc_library() -> Path | None:
    """libmimalloc.so from the installed ``cmeel-mimalloc`` wheel (no import, no loading)."""
    try:
        dist = metadata.distribution("cmeel-mimalloc")
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == "libmimalloc.so":
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    return None


def _system_chosen() -> bool:
    """``TUNETUI_ALLOCATOR=system`` (or glibc/off/none): keep the default, CPU or GPU."""
    return os.environ.get(ALLOCATOR_ENV, "").strip().lower() in _OFF


def allocator_library() -> str | None:
    """What to preload: ``$TUNETUI_ALLOCATOR`` (a path, or ``system`` for glibc), else
    mimalloc, else a system jemalloc, else None (glibc)."""
    if _system_chosen():
        return None
    choice = os.environ.get(ALLOCATOR_ENV, "").strip()
    if choice and Path(choice).is_file():
        return choice
    found = mimalloc_library()
    if found is not None:
        return str(found)
    return ctypes.util.find_library("jemalloc")  # a soname ld.so resolves, or None


CUDA_ALLOC_CONF = "expandable_segments:True"


def cuda_alloc_conf() -> str | None:
    """PyTorch's caching-allocator settings in this environment, under either of its names
    (``PYTORCH_ALLOC_CONF`` is the newer one and wins), or None for PyTorch's default."""
    return os.environ.get("PYTORCH_ALLOC_CONF") or os.environ.get("PYTORCH_CUDA_ALLOC_CONF")


def worker_env(device: str | None) -> dict[str, str]:
    """Environment additions for a worker on `device` (the plan's ``hardware.device``)."""
    if device == "cuda":
        if _system_chosen() or cuda_alloc_conf():
            return {}
        return {"PYTORCH_CUDA_ALLOC_CONF": CUDA_ALLOC_CONF}
    if device != "cpu":
        return {}
    lib = allocator_library()
    if lib is None:
        return {}
    before = os.environ.get("LD_PRELOAD", "").strip()
    return {"LD_PRELOAD": f"{lib} {before}".strip()}


def allocator_in_use() -> str:
    """The preloaded allocator's name for ``train.log``: mimalloc, jemalloc or glibc."""
    preload = os.environ.get("LD_PRELOAD", "")
    for name in ("mimalloc", "jemalloc", "tcmalloc"):
        if name in preload:
            return name
    return "glibc"
