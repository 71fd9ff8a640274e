"""Measured vs planned memory: the peak after the first optimizer step, every run.

The first step is the longest batch (`runner.train.ordering`), so its peak is the run's
peak. The worker writes it as a ``memory`` event beside the plan's figure, and appends the
pair to this machine's calibration file (`runner.calibration`), from which later plans of
similar jobs learn (issue 13 §2).
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback
from tunetui.runner.events import EventWriter

_GIB = 2**30


class MemoryCallback(TrainerCallback):
    """After the first optimizer step, a ``memory`` event (planned and measured GiB) and one
    calibration line. ``job`` (`runner.calibration.plan_job`) is None without a plan: then
    the event still shows the measurement, and nothing is learnt from it."""

    def __init__(
        self, writer: EventWriter, planned_gib: float | None, job: dict[str, Any] | None
    ) -> None:
        self.writer = writer
        self.planned_gib = planned_gib
        self.job = job
        self.done = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.done or state.global_step < 1:
            return
        self.done = True
        measured = measure_peak()
        self.writer.emit("memory", step=state.global_step, planned_gib=self.planned_gib, **measured)
        print(memory_line(self.planned_gib, measured), flush=True)
        if self.job is not None:
            from tunetui.runner.calibration import save_measurement

            save_measurement(self.job, measured["measured_gib"])


def memory_line(planned: float | None, measured: dict[str, Any]) -> str:
    """``memory after the first step: planned 20.9 GiB, measured 19.8 GiB (nvml_used)``."""
    plan = f"planned {planned:.1f} GiB, " if planned else "no plan, "
    return (
        f"memory after the first step: {plan}measured {measured['measured_gib']:.1f} GiB "
        f"({measured['kind']})"
    )


def measure_peak() -> dict[str, Any]:
    """The peak so far, as the ``memory`` event's fields.

    On CUDA: torch's peak allocated and reserved, and the device's used memory (NVML's
    view, via ``mem_get_info``), which is what the plan's ``total`` predicts (context, the
    allocator's cache, NCCL buffers); the caching allocator keeps what it reserved, so after
    the first step "used" is the peak. On CPU: the process's peak RSS.
    """
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        free, total = torch.cuda.mem_get_info()
        used = round((total - free) / _GIB, 3)
        return {
            "kind": "nvml_used",
            "measured_gib": used,
            "nvml_used_gib": used,
            "allocated_gib": round(torch.cuda.max_memory_allocated() / _GIB, 3),
            "reserved_gib": round(torch.cuda.max_memory_reserved() / _GIB, 3),
        }
    import resource

    rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / _GIB, 3)  # KiB
    return {"kind": "rss", "measured_gib": rss}
