"""What a run leaves behind and reports at its end: the adapter or model folder (written
atomically, every rank taking part in the save), its parameter counts and peak memory.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tunetui.runner.rundir import replace_folder

OUTPUT_ADAPTER = "adapter"
OUTPUT_MODEL = "model"


def peak_memory(device: str) -> dict[str, Any]:
    """The run's peak memory for the ``end`` event: CUDA's peak allocated (and reserved,
    what nvidia-smi shows) memory, or the process's peak RSS on CPU."""
    if device == "cuda":
        import torch

        return {
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 3),
            "peak_kind": "cuda_allocated",
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 1024**3, 3),
        }
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
    return {"peak_mem_gib": round(rss, 3), "peak_kind": "rss"}


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters; peft counts 4-bit packed weights at full size."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def save_output(trainer: Any, tokenizer: Any, run_dir: Path, is_peft: bool) -> Path:
    """Write the adapter (PEFT) or full model + tokenizer to a temp folder, then rename it
    into place, so ``adapter/``/``model/`` is never seen half written."""
    from tunetui.runner.train.ranks import barrier

    final = run_dir / (OUTPUT_ADAPTER if is_peft else OUTPUT_MODEL)
    tmp = run_dir / f".{final.name}.tmp"
    main = trainer.args.process_index == 0
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    barrier()  # every rank takes part in save_model (FSDP/ZeRO gather); rank 0 writes
    trainer.save_model(str(tmp))
    barrier()
    if not main:
        return final
    tokenizer.save_pretrained(str(tmp))
    return replace_folder(tmp, final)
