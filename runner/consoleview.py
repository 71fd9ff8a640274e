"""What the headless console prints for a run: plain lines, or a rich bar in a terminal.

`runner.console.follow` reads the events and decides when a run is over; this module
only turns the fold of those events (`RunProgress`) into text. Plain lines go to pipes and
CI logs: at most one progress line per ``log_interval`` seconds of *training* time (event
timestamps, so replays and fast runs print the same), plus every eval, checkpoint and
final event. In a terminal one live progress bar shows every step instead.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tunetui.runner.progress import RunProgress, format_duration, number
from tunetui.runner.rundir import LOG_FILE, plan_gib
from tunetui.runner.runstate import log_tail

LOG_INTERVAL_ENV = "TUNETUI_LOG_INTERVAL"
DEFAULT_LOG_INTERVAL_S = 10.0


def stats_text(p: RunProgress) -> str:
    """``loss 1.2345  lr 2.0e-04  1,234 tok/s  mem 3.1 GiB`` with what is known."""
    parts = []
    if p.loss is not None:
        parts.append(f"loss {p.loss:.4f}")
    if p.lr is not None:
        parts.append(f"lr {p.lr:.1e}")
    if p.tokens_per_s is not None:
        parts.append(f"{p.tokens_per_s:,.0f} tok/s")
    if p.mem_gib is not None:
        parts.append(f"mem {p.mem_gib:.1f} GiB")
    return "  ".join(parts)


def step_text(p: RunProgress) -> str:
    """``step 7/40 18%`` (or ``step 7`` without a known total)."""
    if p.total_steps:
        return f"step {p.step}/{p.total_steps} {100 * p.step / p.total_steps:3.0f}%"
    return f"step {p.step}"


def status_text(p: RunProgress) -> str:
    """``step 7/40 18%  loss 4.2144  lr 1.9e-04 ...  eta 5m03s``: where the run is."""
    eta = f"eta {format_duration(p.eta_s)}" if p.eta_s is not None else ""
    return "  ".join(part for part in (step_text(p), stats_text(p), eta) if part)


def start_text(event: dict[str, Any]) -> str:
    """``start: sft lora, on smollm2, 40 steps, device cpu``."""
    what = " ".join(str(event[k]) for k in ("stage", "method") if event.get(k))
    bits = [f"start: {what or 'training'}"]
    if event.get("model"):
        bits.append(f"on {event['model']}")
    if event.get("total_steps"):
        bits.append(f"{event['total_steps']} steps")
    if event.get("device"):
        bits.append(f"device {event['device']}")
    if event.get("resumed_from"):
        bits.append(f"resumed from {event['resumed_from']}")
    return ", ".join(bits)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class ConsoleView:
    """Turns events into output. Subclasses draw; this base prints plain lines."""

    def __init__(self, run_dir: Path, out: TextIO, log_interval: float) -> None:
        self.run_dir = run_dir
        self.out = out
        self.log_interval = log_interval
        self.progress = RunProgress(run_name=run_dir.name)
        self._printed_t: float | None = None
        self._pending_log: dict[str, Any] | None = None

    # -- output primitives (overridden by the rich view)
    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def open(self) -> None:
        """Start drawing (the rich view starts its live bar here)."""

    def close(self) -> None:
        """Stop drawing, leaving the output readable."""

    def refresh(self) -> None:
        """Redraw after a batch of events (plain lines need nothing)."""

    # -- events
    def handle(self, event: dict[str, Any]) -> None:
        self.progress.apply(event)
        kind = event.get("type")
        if kind == "log":
            self.on_log(event)
        elif kind == "start":
            self.line(start_text(event))
        elif kind == "eval":
            metrics = event.get("metrics") or {}
            shown = ", ".join(f"{k} {_num(v)}" for k, v in metrics.items())
            self.line(f"eval at step {event.get('step', '?')}: {shown or 'done'}")
        elif kind == "checkpoint":
            self.line(f"checkpoint at step {event.get('step', '?')}: {event.get('path', '')}")
        elif kind == "memory" and self.progress.memory_text:
            self.line(f"memory after step {event.get('step', 1)}: {self.progress.memory_text}")
        elif kind == "warning" and event.get("message"):
            self.line(f"warning: {event['message']}")

    def on_log(self, event: dict[str, Any]) -> None:
        t = number(event.get("t")) or time.time()
        p = self.progress
        last = p.total_steps and p.step >= p.total_steps
        if self._printed_t is None or t - self._printed_t >= self.log_interval or last:
            self.line(status_text(p))
            self._printed_t = t
            self._pending_log = None
        else:
            self._pending_log = event

    def flush_pending(self) -> None:
        """Print the newest throttled progress line (before a final event)."""
        if self._pending_log is not None:
            self.line(status_text(self.progress))
            self._pending_log = None

    # -- endings
    def summary(self, event: dict[str, Any]) -> int:
        """Print the outcome of a terminal event; returns the exit code."""
        self.flush_pending()
        kind = event.get("type")
        name = self.run_dir.name
        if kind == "end":
            self.line(self._end_text(event))
            return 0
        if kind == "stopped":
            self.line(
                f"stopped at step {event.get('step', self.progress.step)}; checkpoint "
                f"{event.get('checkpoint') or '(none)'}. Resume: tunetui run --resume {name}"
            )
            return 0
        self.line(f"failed: {event.get('message') or 'the worker reported an error'}")
        tail = str(event.get("traceback_tail") or "").rstrip()
        for text in tail.splitlines()[-12:]:
            self.line(f"  {text}")
        self.line(f"full log: {self.run_dir / LOG_FILE}")
        return 1

    def _end_text(self, event: dict[str, Any]) -> str:
        metrics = event.get("metrics") if isinstance(event.get("metrics"), dict) else {}
        # "final loss" is the last logged one (what the progress line and `tunetui runs`
        # showed); the trainer's train_loss is the mean over the whole run, shown beside it.
        last = self.progress.loss if self.progress.loss is not None else metrics.get("loss")
        mean = metrics.get("train_loss")
        parts = [f"finished: step {event.get('step', self.progress.step)}"]
        if last is not None:
            parts.append(f"final loss {_num(last)}" + (f" (mean {_num(mean)})" if mean else ""))
        elif mean is not None:
            parts.append(f"mean loss {_num(mean)}")
        peak = number(event.get("peak_mem_gib"))
        if peak is not None:
            planned = number(event.get("plan_gib")) or plan_gib(self.run_dir)
            kind = " (process RSS)" if event.get("peak_kind") == "rss" else ""
            vs = f" vs plan {planned:.2f} GiB" if planned else " (no plan estimate)"
            parts.append(f"peak memory {peak:.2f} GiB{kind}{vs}")
        started, t = self.progress.started_t, number(event.get("t"))
        if started and t:
            parts.append(f"took {format_duration(t - started)}")
        parts.append(f"output {event.get('output') or self.run_dir}")
        return ", ".join(parts)

    def crashed(self, pid: int | None) -> int:
        """The worker vanished without a final event: say so, show the log tail."""
        self.flush_pending()
        name = self.run_dir.name
        self.line(
            f"crashed: the worker (pid {pid or '?'}) exited without a final event "
            f"(killed, out of memory?) at step {self.progress.step}. "
            f"Last lines of {self.run_dir / LOG_FILE}:"
        )
        for text in log_tail(self.run_dir, 12).splitlines():
            self.line(f"  {text}")
        self.line(f"Resume from the last checkpoint: tunetui run --resume {name}")
        return 1


class RichConsoleView(ConsoleView):
    """The same view in a terminal: one live progress bar, events printed above it."""

    def open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._console = Console(file=self.out)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("eta {task.fields[eta]}"),
            console=self._console,
            transient=False,
        )
        # The header line names the run; the bar keeps its width for the numbers.
        self._task = self._bar.add_task("train", total=None, stats="", eta="--")
        self._bar.start()

    def close(self) -> None:
        """Stop the live bar, leaving its last state on screen (safe to call twice)."""
        if getattr(self, "_bar", None) is not None:
            self.refresh()
            self._bar.stop()
            self._bar = None

    def summary(self, event: dict[str, Any]) -> int:
        self.close()  # the outcome goes under the final bar, not above a bar left behind
        return super().summary(event)

    def crashed(self, pid: int | None) -> int:
        self.close()
        return super().crashed(pid)

    def line(self, text: str) -> None:
        bar = getattr(self, "_bar", None)
        if bar is None:
            super().line(text)
        else:
            self.refresh()  # the bar under the line shows the same step as the line
            bar.console.print(text, markup=False, highlight=False)

    def on_log(self, event: dict[str, Any]) -> None:
        """The bar shows every step; no per-step lines."""

    def flush_pending(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        if getattr(self, "_bar", None) is None:
            return
        p = self.progress
        self._bar.update(
            self._task,
            total=p.total_steps,
            completed=p.step,
            stats=stats_text(p),
            eta=format_duration(p.eta_s),
            refresh=True,
        )


def make_view(
    run_dir: Path, out: TextIO | None = None, log_interval: float | None = None
) -> ConsoleView:
    """A rich view when ``out`` is a terminal, plain lines otherwise."""
    out = sys.stdout if out is None else out
    if log_interval is None:  # "0" is a valid setting: print every log event
        from_env = number(os.environ.get(LOG_INTERVAL_ENV))
        log_interval = DEFAULT_LOG_INTERVAL_S if from_env is None else max(0.0, from_env)
    is_tty = hasattr(out, "isatty") and out.isatty()
    cls = RichConsoleView if is_tty else ConsoleView
    return cls(Path(run_dir), out, log_interval)
