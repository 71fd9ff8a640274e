"""What a run looks like to a viewer: events folded into plain state, no Textual here.

The dashboard only renders a `RunView`; keeping the folding pure means it is tested without
a terminal, the same code replays a finished run from ``events.jsonl`` and follows a live
one, and a ``--resume`` restart (the tail reports ``restarted``) is just ``reset()``.
Every field of every event is optional except where the protocol says otherwise, so
missing keys leave the previous value instead of raising.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# How many points the sparklines keep: a panel at 80 columns shows fewer than this.
HISTORY = 120


def _num(value: Any) -> float | None:
    """A finite float, or None for missing, NA sentinels and junk."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


@dataclass
class DeviceHistory:
    """Recent samples of one GPU (or of the CPU host when there is no GPU)."""

    label: str
    util: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    mem: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    temp: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    power: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    mem_total_gib: float | None = None
    rss_gib: float | None = None  # CPU only: the training process's resident memory

    def last(self, series: str) -> float | None:
        values: deque[float] = getattr(self, series)
        return values[-1] if values else None


@dataclass
class RunView:
    """The state every dashboard panel reads. Feed it events with `apply`."""

    run_name: str = ""
    stage: str = ""
    method: str = ""
    model: str = ""
    device: str = ""
    # waiting | running | stopping | stopped | error | finished | crashed
    status: str = "waiting"
    step: int = 0
    total_steps: int | None = None
    epoch: float | None = None
    num_epochs: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None
    loss: float | None = None
    lr: float | None = None
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    lrs: list[tuple[int, float]] = field(default_factory=list)
    devices: dict[str, DeviceHistory] = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)
    error_message: str = ""
    traceback_tail: list[str] = field(default_factory=list)
    end_metrics: dict[str, Any] = field(default_factory=dict)
    peak_mem_gib: float | None = None
    output: str = ""
    resumed_from: str = ""
    events_seen: int = 0
    last_event_t: float | None = None

    def reset(self) -> None:
        """Forget everything: the events file was truncated or replaced."""
        fresh = RunView()
        self.__dict__.update(fresh.__dict__)

    def apply_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event in; unknown types are counted and otherwise ignored."""
        self.events_seen += 1
        t = _num(event.get("t"))
        if t is not None:
            self.last_event_t = t
        handler = getattr(self, f"_on_{event.get('type')}", None)
        if handler is not None:
            handler(event)

    # -- handlers, one per event type -------------------------------------------------
    def _on_start(self, e: dict[str, Any]) -> None:
        self.run_name = str(e.get("run") or self.run_name)
        self.stage = str(e.get("stage") or self.stage)
        self.method = str(e.get("method") or self.method)
        self.model = str(e.get("model") or self.model)
        self.device = str(e.get("device") or self.device)
        total = _num(e.get("total_steps"))
        self.total_steps = int(total) if total is not None else self.total_steps
        self.num_epochs = _num(e.get("num_epochs")) or self.num_epochs
        self.resumed_from = str(e.get("resumed_from") or "")
        # A resumed run starts again after a stop or an error: the header shows this
        # attempt only (the curves keep the whole history).
        self.new_attempt()
        self.status = "running"

    def _on_log(self, e: dict[str, Any]) -> None:
        step = _num(e.get("step"))
        if step is None:
            return
        self.step = int(step)
        if self.status == "waiting":
            self.status = "running"
        loss, lr = _num(e.get("loss")), _num(e.get("lr"))
        if loss is not None:
            self.loss = loss
            self.train_loss.append((self.step, loss))
        if lr is not None:
            self.lr = lr
            self.lrs.append((self.step, lr))
        for name in ("epoch", "tokens_per_s", "eta_s"):
            value = _num(e.get(name))
            if value is not None:
                setattr(self, name, value)

    def _on_eval(self, e: dict[str, Any]) -> None:
        metrics = e.get("metrics") if isinstance(e.get("metrics"), dict) else {}
        loss = _num(metrics.get("eval_loss", metrics.get("loss")))
        step = _num(e.get("step"))
        if loss is not None:
            self.eval_loss.append((int(step) if step is not None else self.step, loss))

    def _on_gpu(self, e: dict[str, Any]) -> None:
        gpus = e.get("gpus")
        if isinstance(gpus, list):
            for position, gpu in enumerate(gpus):
                if not isinstance(gpu, dict):
                    continue
                index = gpu.get("index", position)
                hist = self._device(f"GPU {index}")
                self._push(hist.util, gpu.get("util"))
                self._push(hist.mem, gpu.get("mem_used_gib"))
                self._push(hist.temp, gpu.get("temp_c"))
                self._push(hist.power, gpu.get("power_w"))
                hist.mem_total_gib = _num(gpu.get("mem_total_gib")) or hist.mem_total_gib
        cpu = e.get("cpu")
        if isinstance(cpu, dict):
            hist = self._device("CPU")
            self._push(hist.util, cpu.get("util"))
            self._push(hist.mem, cpu.get("ram_used_gib"))
            hist.rss_gib = _num(cpu.get("rss_gib")) or hist.rss_gib
            hist.mem_total_gib = _num(cpu.get("ram_total_gib")) or hist.mem_total_gib

    def _on_checkpoint(self, e: dict[str, Any]) -> None:
        self.checkpoints.append(str(e.get("path") or f"step {e.get('step', '?')}"))

    def _on_stopped(self, e: dict[str, Any]) -> None:
        self.status = "stopped"
        if e.get("checkpoint"):
            self.checkpoints.append(str(e["checkpoint"]))

    def _on_error(self, e: dict[str, Any]) -> None:
        self.status = "error"
        self.error_message = str(e.get("message") or "the run failed")
        tail = e.get("traceback_tail") or []
        self.traceback_tail = tail.splitlines() if isinstance(tail, str) else [str(x) for x in tail]

    def _on_end(self, e: dict[str, Any]) -> None:
        self.status = "finished"
        step = _num(e.get("step"))
        if step is not None:
            self.step = int(step)
        if isinstance(e.get("metrics"), dict):
            self.end_metrics = dict(e["metrics"])
        self.peak_mem_gib = _num(e.get("peak_mem_gib"))
        self.output = str(e.get("output") or "")

    # -- helpers -------------------------------------------------------------------------
    def _device(self, label: str) -> DeviceHistory:
        if label not in self.devices:
            self.devices[label] = DeviceHistory(label)
        return self.devices[label]

    @staticmethod
    def _push(series: deque[float], value: Any) -> None:
        number = _num(value)
        if number is not None:
            series.append(number)

    @property
    def progress(self) -> float | None:
        """Fraction done, or None when the total is unknown."""
        if not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)

    @property
    def finished(self) -> bool:
        return self.status in ("stopped", "error", "finished", "crashed")

    def new_attempt(self) -> None:
        """Forget what belongs to an earlier attempt's header: its end, speed and ETA.

        Called on each ``start`` and when the runner says a worker is alive although the
        events so far end with a final event (a ``--resume`` whose worker is still loading).
        """
        self.status = "waiting"
        self.error_message, self.traceback_tail = "", []
        self.tokens_per_s = self.eta_s = self.peak_mem_gib = None
        self.checkpoints, self.end_metrics, self.output = [], {}, ""

    def mark_stopping(self) -> None:
        """A stop was asked for: the worker saves a checkpoint, then writes ``stopped``."""
        if not self.finished:
            self.status = "stopping"

    def mark_crashed(self, log_path: str) -> None:
        """The worker is gone without a terminal event (killed, OOM-killed, power loss)."""
        self.status = "crashed"
        self.error_message = "the training process ended without an end event"
        self.traceback_tail = [f"see the end of {log_path}"]


def format_duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``42s`` or ``--`` for unknown."""
    if seconds is None or seconds < 0:
        return "--"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
