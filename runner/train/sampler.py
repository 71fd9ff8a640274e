"""A 1 Hz sampler of GPU (or CPU) load that feeds the dashboard's sparklines.

It runs as a daemon thread inside the training process so its readings share the run's
timeline in ``events.jsonl``. GPUs are read through the planner's NVML probe (``util``,
memory, temperature, power per GPU); without NVML or GPUs it reports the host's CPU load,
RAM and the worker's resident memory via psutil, so CPU runs get live panels too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from tunetui.runner.events import EventWriter

_GIB = 1024**3


def _gpu_reader() -> Callable[[], list[dict[str, Any]]] | None:
    """The planner's per-GPU sampler when NVML works and sees a GPU, else None."""
    from tunetui.planner.probe import sample

    try:
        return sample if sample() else None
    except Exception:  # noqa: BLE001 - any NVML failure means "no GPU readings"
        return None


def cpu_reading(process: Any = None) -> dict[str, Any]:
    """Host CPU utilisation (% since the previous call), RAM and this process's RSS."""
    import psutil

    process = process or psutil.Process(os.getpid())
    vm = psutil.virtual_memory()
    return {
        "util": psutil.cpu_percent(interval=None),
        "ram_used_gib": round((vm.total - vm.available) / _GIB, 3),
        "ram_total_gib": round(vm.total / _GIB, 3),
        "rss_gib": round(process.memory_info().rss / _GIB, 3),
    }


class Sampler(threading.Thread):
    """Emits a ``gpu`` event every `interval` seconds until `stop()`."""

    def __init__(
        self, writer: EventWriter, interval: float = 1.0, gpu_index: int | None = None
    ) -> None:
        super().__init__(name="tunetui-sampler", daemon=True)
        self.writer = writer
        self.interval = interval
        self.gpu_index = gpu_index  # one rank of several: only its own GPU
        self._halt = threading.Event()
        self._gpus = _gpu_reader()

    def run(self) -> None:
        import psutil

        process = psutil.Process(os.getpid())
        psutil.cpu_percent(interval=None)  # prime: the first reading is meaningless
        # The first sample soon, not after a whole interval: the dashboard's device line
        # appears at once, and every rank of a short run is seen.
        wait = min(self.interval, 0.2)
        while not self._halt.wait(wait):
            wait = self.interval
            try:
                self.writer.emit("gpu", **self.reading(process))
            except Exception:  # noqa: BLE001 - sampling must never take training down
                continue

    def reading(self, process: Any = None) -> dict[str, Any]:
        """One sample: ``{"gpus": [...]}`` with NVML GPUs, else ``{"cpu": {...}}``."""
        if self._gpus is not None:
            gpus = self._gpus()
            if self.gpu_index is not None:
                gpus = [g for g in gpus if g.get("index") == self.gpu_index] or gpus
            if gpus:
                return {"gpus": gpus}
        return {"cpu": cpu_reading(process)}

    def stop(self) -> None:
        self._halt.set()
