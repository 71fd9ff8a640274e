"""The worker as one of several processes (accelerate / torchrun ranks).

Three things a single process never needs:

- **agreement**: a stop request (SIGTERM or the STOP file) may reach one rank a step before
  another; a rank that saves and leaves while the others wait in an all-reduce hangs the
  job. `any_rank` turns each rank's flag into one decision at the same step boundary.
- **going down together**: when a rank dies, torchrun's agent sends SIGTERM to the others
  and waits. A rank blocked inside a collective never runs its Python signal handler, so
  `PeerWatch` reads the signal from a wakeup pipe in a thread: a SIGTERM *with* the STOP
  file is the user's stop (the ranks save together); *without* it, the launcher is taking
  the job down, and the rank leaves at once (rank 0 writes the run's error line if the
  failing rank wrote none, e.g. it was killed by the kernel).
- **one error**: the first failing rank writes the ``error`` event; the ranks taken down
  after it do not bury it under their own consequences (`should_report`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tunetui.runner.events import EVENTS_FILE, EventWriter
from tunetui.runner.runstate import recent_events

STOP_FILE = "STOP"
_taken_down = threading.Event()
_STARTED = time.time()  # errors older than this process belong to an earlier attempt


def rank_from_env() -> int | None:
    """This process's global rank when the launcher started several, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def nvml_index() -> int | None:
    """The NVML index of this rank's GPU (``CUDA_VISIBLE_DEVICES`` maps local ranks)."""
    if rank_from_env() is None:
        return None
    local = int(os.environ.get("LOCAL_RANK", "0"))
    mask = [e.strip() for e in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if e]
    if local < len(mask) and mask[local].isdigit():
        return int(mask[local])
    return local


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def any_rank(flag: bool, device: Any = "cpu") -> bool:
    """True on every rank when `flag` is true on any (one tiny all-reduce; no-op alone)."""
    if rank_from_env() is None or not _initialized():
        return flag
    import torch
    import torch.distributed as dist

    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier() -> None:
    if rank_from_env() is not None and _initialized():
        import torch.distributed as dist

        dist.barrier()


def should_report(run_dir: Path) -> bool:
    """Whether this rank's failure is the run's error: not when the launcher took this
    rank down, nor when another rank already wrote its error in this attempt."""
    if rank_from_env() is None:
        return True
    return not _taken_down.is_set() and not _error_written(run_dir)


def _error_written(run_dir: Path) -> bool:
    """Has a rank of this attempt written an ``error`` event already?"""
    events = recent_events(run_dir / EVENTS_FILE)
    return any(e.get("type") == "error" and e.get("t", 0) >= _STARTED - 5 for e in events)


class PeerWatch(threading.Thread):
    """Leaves within a second when the launcher takes the job down (see the module doc)."""

    def __init__(self, run_dir: Path, writer: EventWriter) -> None:
        super().__init__(name="tunetui-peerwatch", daemon=True)
        self.run_dir = run_dir
        self.writer = writer
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        self._write = write

    def install(self) -> None:
        """Main thread, before the stop switch: SIGTERM's C handler writes to our pipe even
        while the main thread is blocked in a collective."""
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self.start()

    def run(self) -> None:
        while True:
            data = os.read(self._read, 64)
            if not data:
                return
            if signal.SIGTERM in data and not (self.run_dir / STOP_FILE).exists():
                self._leave()

    def _leave(self) -> None:
        _taken_down.set()
        if self.writer.is_main and not _error_written(self.run_dir):
            self.writer.emit(
                "error",
                message="another process of this run exited, so every rank was stopped; "
                "its error is in train.log (killed by the kernel? out of host memory?)",
            )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def weight_digests(model: Any, device: Any = "cpu") -> list[float] | None:
    """Every rank's checksum of its trainable weights, gathered on every rank (None alone).

    DDP and ZeRO-2 keep a full copy of the weights on each rank; the copies must be equal
    after every step, and the ``end`` event shows that they are (a broken gradient sync
    would otherwise only show as a worse model). Sharded strategies hold different shards.
    """
    if rank_from_env() is None or not _initialized():
        return None
    import torch
    import torch.distributed as dist

    total = torch.zeros(1, dtype=torch.float64, device=device)
    for param in model.parameters():
        if param.requires_grad:
            total += param.detach().to(torch.float64).sum()
    gathered = [torch.zeros_like(total) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, total)
    return [float(t.item()) for t in gathered]


def describe(recipe: Any) -> dict[str, Any]:
    """The ``start`` event's ``distributed`` field: strategy, processes, machines."""
    d = recipe.distributed
    return {"strategy": d.strategy, "world_size": world_size(), "num_machines": d.num_machines}


def install(run_dir: Path, writer: EventWriter) -> None:
    """On one of several processes: the peer watch, and progress lines from rank 0 only
    (every rank's errors still reach train.log through stderr)."""
    if writer.rank is None:
        return
    PeerWatch(run_dir, writer).install()
    if writer.rank:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process's life
