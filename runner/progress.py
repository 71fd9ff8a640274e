"""Where a run is: its events folded into one plain `RunProgress` (stdlib only).

Every view reads a run the same way: the console (`runner.console`), `tunetui runs`
(`runner.runstate.read_state`) and the TUI dashboard all feed events to `RunProgress.apply`
and show its fields. One fold means one answer to "which step, which loss, what ETA" in
every view, and a replay of a finished run is the same code as following a live one. A
``--resume`` restart of the events file (the tail reports ``restarted``) is ``reset()``.

Every field of every event is optional except where the protocol says otherwise
(`runner.events`), so missing keys and junk leave the previous value instead of raising.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# How many samples the device sparklines keep: a panel at 80 columns shows fewer.
HISTORY = 120
# Statuses after which nothing more happens until a `--resume` writes a new `start`.
ENDED = ("stopped", "error", "finished", "crashed")


def number(value: Any) -> float | None:
    """A finite float, or None for missing values, NA sentinels, booleans and junk."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def whole(value: Any) -> int | None:
    """An int (steps, totals), or None like `number`."""
    out = number(value)
    return int(out) if out is not None else None


def format_duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``42s``; ``--`` when unknown.

    The one duration format of run views (ETA, `tunetui runs` duration, the dashboard):
    short enough for a table cell and an 80-column progress line.
    """
    if seconds is None or seconds != seconds or seconds < 0 or math.isinf(seconds):
        return "--"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


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
class RunProgress:
    """The latest values of everything the run views show. Feed it events with `apply`."""

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
    # The first step's `memory` event: the plan's figure and the measured peak (issue 13).
    planned_gib: float | None = None
    measured_gib: float | None = None
    warnings: list[str] = field(default_factory=list)  # `warning` events, oldest first
    output: str = ""
    resumed_from: str = ""
    events_seen: int = 0
    last_event_t: float | None = None
    started_t: float | None = None  # this attempt's `start` time
    last_start: dict[str, Any] | None = None  # this attempt's `start` event, once seen
    # (t, step) of this attempt's first log: the rate for an ETA when the worker gives none
    _first_log: tuple[float, int] | None = field(default=None, repr=False)

    def reset(self) -> None:
        """Forget everything: the events file was truncated or replaced."""
        self.__dict__.update(RunProgress(run_name=self.run_name).__dict__)

    def apply_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event in; unknown types are counted and otherwise ignored."""
        self.events_seen += 1
        t = number(event.get("t"))
        if t is not None:
            self.last_event_t = t
        kind = event.get("type")
        step = whole(event.get("step"))
        if step is not None and kind not in ("start", "log"):
            self.step = step  # where a stop, an eval or the end happened
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)

    # -- handlers, one per event type -------------------------------------------------
    def _on_start(self, e: dict[str, Any]) -> None:
        for name in ("stage", "method", "model", "device"):
            setattr(self, name, str(e.get(name) or getattr(self, name)))
        self.run_name = str(e.get("run") or self.run_name)
        self.total_steps = whole(e.get("total_steps")) or self.total_steps
        self.num_epochs = number(e.get("num_epochs")) or self.num_epochs
        self.resumed_from = str(e.get("resumed_from") or "")
        # A resumed attempt starts from its checkpoint's step (0 without one), not from
        # where the previous attempt died: later than the checkpoint, or crashed.
        self.step = whole(e.get("step")) or 0
        self.started_t = number(e.get("t"))
        self.last_start = e
        self._first_log = None
        # The header shows this attempt only (the curves keep the whole history).
        self.new_attempt()
        self.status = "running"

    def _on_log(self, e: dict[str, Any]) -> None:
        step = whole(e.get("step"))
        if step is None:
            return
        self.step = step
        if self.status == "waiting":
            self.status = "running"
        loss, lr = number(e.get("loss")), number(e.get("lr"))
        if loss is not None:
            self.loss = loss
            self.train_loss.append((step, loss))
        if lr is not None:
            self.lr = lr
            self.lrs.append((step, lr))
        for name in ("epoch", "tokens_per_s"):
            value = number(e.get(name))
            if value is not None:
                setattr(self, name, value)
        eta = number(e.get("eta_s"))
        self.eta_s = eta if eta is not None else self._rate_eta(number(e.get("t")))

    def _rate_eta(self, t: float | None) -> float | None:
        """Seconds left at the step rate seen since this attempt's first log."""
        if t is None or not self.total_steps:
            return None
        if self._first_log is None:
            self._first_log = (t, self.step)
            return None
        t0, step0 = self._first_log
        done = self.step - step0
        return (t - t0) / done * (self.total_steps - self.step) if done > 0 else None

    def _on_eval(self, e: dict[str, Any]) -> None:
        metrics = e.get("metrics") if isinstance(e.get("metrics"), dict) else {}
        loss = number(metrics.get("eval_loss", metrics.get("loss")))
        step = whole(e.get("step"))
        if loss is not None:
            self.eval_loss.append((step if step is not None else self.step, loss))

    def _on_gpu(self, e: dict[str, Any]) -> None:
        gpus = e.get("gpus")
        for position, gpu in enumerate(gpus if isinstance(gpus, list) else []):
            if not isinstance(gpu, dict):
                continue
            hist = self._device(f"GPU {gpu.get('index', position)}")
            for series, key in (("util", "util"), ("mem", "mem_used_gib")):
                self._push(getattr(hist, series), gpu.get(key))
            self._push(hist.temp, gpu.get("temp_c"))
            self._push(hist.power, gpu.get("power_w"))
            hist.mem_total_gib = number(gpu.get("mem_total_gib")) or hist.mem_total_gib
        cpu = e.get("cpu")
        if isinstance(cpu, dict):
            hist = self._device("CPU")
            self._push(hist.util, cpu.get("util"))
            self._push(hist.mem, cpu.get("ram_used_gib"))
            hist.rss_gib = number(cpu.get("rss_gib")) or hist.rss_gib
            hist.mem_total_gib = number(cpu.get("ram_total_gib")) or hist.mem_total_gib

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

    def _on_memory(self, e: dict[str, Any]) -> None:
        self.planned_gib = number(e.get("planned_gib"))
        self.measured_gib = number(e.get("measured_gib"))

    def _on_warning(self, e: dict[str, Any]) -> None:
        if e.get("message"):
            self.warnings.append(str(e["message"]))

    def _on_end(self, e: dict[str, Any]) -> None:
        self.status = "finished"
        if isinstance(e.get("metrics"), dict):
            self.end_metrics = dict(e["metrics"])
        self.peak_mem_gib = number(e.get("peak_mem_gib"))
        self.output = str(e.get("output") or "")

    # -- helpers -------------------------------------------------------------------------
    def _device(self, label: str) -> DeviceHistory:
        if label not in self.devices:
            self.devices[label] = DeviceHistory(label)
        return self.devices[label]

    @staticmethod
    def _push(series: deque[float], value: Any) -> None:
        value = number(value)
        if value is not None:
            series.append(value)

    @property
    def fraction(self) -> float | None:
        """Fraction done, or None when the total is unknown."""
        if not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)

    @property
    def mem_gib(self) -> float | None:
        """Memory in use now: the fullest GPU, else the trainer's resident memory on CPU."""
        gpus = [h.last("mem") for label, h in self.devices.items() if label != "CPU"]
        used = [m for m in gpus if m is not None]
        if used:
            return max(used)
        cpu = self.devices.get("CPU")
        return cpu.rss_gib if cpu is not None else None

    @property
    def memory_text(self) -> str:
        """``planned 20.9 GiB, measured 19.8 GiB`` once the first step was measured, else
        "" (the same words in the console, the dashboard and `tunetui runs`)."""
        if self.measured_gib is None:
            return ""
        plan = f"planned {self.planned_gib:.1f} GiB, " if self.planned_gib is not None else ""
        return f"{plan}measured {self.measured_gib:.1f} GiB"

    @property
    def finished(self) -> bool:
        """The attempt is over (ended, stopped, failed or crashed)."""
        return self.status in ENDED

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
