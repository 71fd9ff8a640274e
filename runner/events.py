"""The event protocol: one JSON object per line in ``<run>/events.jsonl``.

The training process is the only writer; every view (TUI dashboard, headless console,
``tunetui attach``, ``tunetui runs``) only tails the file. That keeps views disposable: a
dropped SSH session or a closed dashboard never touches training.

Each event is ``{"v": 1, "t": <unix time>, "type": <type>, ...fields}``. Types and their
fields (all optional except as noted, so readers must tolerate missing keys):

- ``start``: run, stage, method, model, model_dir, total_steps, num_epochs, step, pid, device,
  precision, notes (e.g. "QLoRA on CPU: ..."), trainable_params, total_params,
  train_samples, eval_samples, resumed_from
- ``log``: step (required), loss, lr, grad_norm, tokens_per_s, samples_per_s, epoch, eta_s,
  metrics (stage-specific numbers such as DPO reward margins)
- ``gpu``: gpus = [{index, util, mem_used_gib, mem_total_gib, temp_c, power_w}] or, with no
  GPU, cpu = {util, ram_used_gib, ram_total_gib, rss_gib}; on several processes each rank
  writes its own (its GPU, or its process on CPU) with ``rank``
- ``start`` on several processes also has distributed = {strategy, world_size, num_machines}
- ``eval``: step, metrics (dict, e.g. eval_loss)
- ``checkpoint``: step, path
- ``memory``: step, planned_gib (the plan's figure), measured_gib, kind ("nvml_used" |
  "rss"), allocated_gib, reserved_gib (GPU): the peak after the first step
- ``warning``: message (something the user should see at once, e.g. a fallback from
  flash-attention to sdpa; also in train.log); kind "oom_retry" with step, batch_size,
  grad_accum, gradient_checkpointing when a step ran out of memory and the run continues
  with the smaller settings
- ``stopped``: step, checkpoint (a user asked to stop; a checkpoint was saved)
- ``error``: message, traceback_tail (last lines; the full traceback is in train.log);
  on several processes ``rank`` (the first rank that failed; the others are taken down)
- ``end``: step, metrics (train_loss, last eval numbers), peak_mem_gib, peak_reserved_gib
  (CUDA), peak_kind ("cuda_allocated" | "rss"), plan_gib, output (path of adapter/ or model/)

The worker exits 0 when finished or stopped, 2 on a user error (a one-line ``error``
event), 1 on a crash (full traceback in train.log, its last lines in the ``error`` event).

This module is stdlib-only: the TUI and the CLI import it without torch.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

VERSION = 1
EVENT_TYPES = (
    "start", "log", "gpu", "eval", "checkpoint", "memory", "warning", "stopped", "error", "end",
)  # fmt: skip
TERMINAL_TYPES = ("stopped", "error", "end")
PER_RANK_TYPES = ("gpu", "error")  # on several processes, each rank writes these
EVENTS_FILE = "events.jsonl"


def make_event(type_: str, **fields: Any) -> dict[str, Any]:
    """Build an event dict with the protocol header."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    return {"v": VERSION, "t": round(time.time(), 3), "type": type_, **fields}


class EventWriter:
    """Appends events, one line each, written at once so tailers see them promptly.

    Each line is one ``os.write`` on a descriptor opened with ``O_APPEND``, so concurrent
    writers (the trainer's callback, the GPU sampler thread, and on several GPUs every
    rank's process) never interleave within a line.

    On more than one process (``rank`` given) every rank writes its own samples and errors
    (`PER_RANK_TYPES`, stamped with ``rank``); every other event (start, log, checkpoint,
    stopped, end ...) comes from the main rank only, so a reader sees one run, not N.
    """

    def __init__(self, path: str | os.PathLike[str], rank: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
        )

    @property
    def is_main(self) -> bool:
        return not self.rank

    def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        event = make_event(type_, **fields)
        if self.rank is not None:
            if type_ not in PER_RANK_TYPES and self.rank != 0:
                return event  # the main rank reports the run
            if type_ in PER_RANK_TYPES:
                event["rank"] = self.rank
        line = json.dumps(event, default=_jsonable, separators=(",", ":")) + "\n"
        if self._fd is not None:
            os.write(self._fd, line.encode("utf-8"))
        return event

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    """Turn numpy/torch scalars and paths into plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def parse_line(line: str) -> dict[str, Any] | None:
    """One line to an event, or None for a blank, partial or foreign line."""
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or "type" not in event:
        return None
    return event


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All complete, valid events in a file (a truncated last line is skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [e for e in map(parse_line, text.splitlines()) if e is not None]


class TextTail:
    """Non-blocking follower of a text file that another process appends to.

    ``lines()`` returns the complete lines appended since the last call. It keeps a partial
    last line until its newline arrives, and starts over from the top when the file is
    replaced or truncated (a new inode or a smaller size), reporting that through
    ``restarted`` so views can clear their state. `EventTail` parses these lines as events;
    the TUI's log pane shows them as text.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self._inode: int | None = None
        self._partial = ""
        self.restarted = False

    def skip_to_tail(self, keep_bytes: int) -> None:
        """Start near the end: only the last `keep_bytes` (from a line start) are read."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        if st.st_size <= keep_bytes:
            return
        with open(self.path, "rb") as fh:
            fh.seek(st.st_size - keep_bytes)
            head = fh.read(keep_bytes)
        cut = head.find(b"\n")
        self._offset = st.st_size - keep_bytes + (cut + 1 if cut >= 0 else 0)
        self._inode = st.st_ino

    def lines(self, max_bytes: int = 4 << 20, split_cr: bool = False) -> list[str]:
        """New complete lines; ``split_cr`` also splits on carriage returns (progress bars
        that rewrite one line show each state as its own line)."""
        self.restarted = False
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        if self._inode is not None and (st.st_ino != self._inode or st.st_size < self._offset):
            self._offset, self._partial, self.restarted = 0, "", True
        self._inode = st.st_ino
        if st.st_size == self._offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read(max_bytes)
        self._offset += len(chunk)
        text = self._partial + chunk.decode("utf-8", errors="replace")
        if split_cr:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        parts = text.split("\n")
        self._partial = parts.pop()  # "" when the chunk ended on a newline
        return parts


class EventTail(TextTail):
    """Non-blocking follower of an events file: ``poll()`` returns the events appended since
    the last call (see `TextTail` for partial lines, truncation and ``restarted``)."""

    def poll(self, max_bytes: int = 4 << 20) -> list[dict[str, Any]]:
        return [e for e in map(parse_line, self.lines(max_bytes)) if e is not None]


class LogTail(TextTail):
    """Non-blocking follower of train.log for the dashboard's log pane: new complete lines
    since the last poll, carriage returns split (a progress bar's states become lines)."""

    def poll(self, max_bytes: int = 1 << 20) -> list[str]:
        return self.lines(max_bytes, split_cr=True)
