"""The headless view of a run: follow events.jsonl and print progress.

In a terminal it draws a rich progress bar (step/total, loss, lr, tokens/s, ETA); in a pipe
or a CI log it prints plain lines, at most one progress line per ``log_interval`` seconds of
*training* time (event timestamps, so replays and fast runs print the same), plus every
eval, checkpoint and final event.

It never talks to the worker except through the two stop channels (SIGTERM + STOP file):
Ctrl+C once asks the run to save a checkpoint and stop, and says so; Ctrl+C again detaches
and leaves the worker running. If the worker dies without a final event (kill -9, the OOM
killer) the follower notices the pid is gone and shows the tail of train.log.

Exit codes: 0 finished or stopped, 1 failed or crashed, 130 detached with Ctrl+C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tunetui.runner.events import TERMINAL_TYPES, EventTail
from tunetui.runner.rundir import EVENTS_FILE, LOG_FILE, RUN_FILE, read_json
from tunetui.runner.runstate import (
    RunState,
    _float,
    _int,
    drain,
    log_tail,
    plan_gib,
    process_alive,
    read_state,
)

LOG_INTERVAL_ENV = "TUNETUI_LOG_INTERVAL"
DEFAULT_LOG_INTERVAL_S = 10.0
# How often to check that the worker is still alive while no events arrive.
_ALIVE_CHECK_S = 1.0


@dataclass
class Progress:
    """The latest values of everything the views show, folded from events."""

    run: str = ""
    total_steps: int | None = None
    step: int = 0
    loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None
    mem_gib: float | None = None
    started_t: float | None = None
    started: bool = False  # a `start` event seen: the worker is past loading
    last_start: dict[str, Any] | None = None
    last: dict[str, Any] = field(default_factory=dict)
    # (t, step) of this attempt's first log: the rate for an ETA when the worker gives none
    _first_log: tuple[float, int] | None = None

    def update(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "start":
            # A resumed attempt starts from its checkpoint's step (or 0 with none), not from
            # where the previous attempt died: later than the checkpoint, or crashed.
            self.total_steps = _int(event.get("total_steps")) or self.total_steps
            self.started_t = event.get("t", self.started_t)
            self.step = _int(event.get("step")) or 0
            self.eta_s = None
            self._first_log = None
            self.started = True
            self.last_start = event
        elif event.get("step") is not None:
            self.step = _int(event.get("step")) or self.step
        if kind == "log":
            for key in ("loss", "lr", "tokens_per_s", "eta_s"):
                if event.get(key) is not None:
                    setattr(self, key, _float(event[key]))
            if event.get("eta_s") is None:
                self.eta_s = self._rate_eta(_float(event.get("t")))
        if kind == "gpu":
            self.mem_gib = _memory(event) or self.mem_gib
        self.last = event

    def _rate_eta(self, t: float | None) -> float | None:
        if t is None or not self.total_steps:
            return None
        if self._first_log is None:
            self._first_log = (t, self.step)
            return None
        t0, step0 = self._first_log
        done = self.step - step0
        return (t - t0) / done * (self.total_steps - self.step) if done > 0 else None

    def stats(self) -> str:
        """``loss 1.2345  lr 2.0e-04  1,234 tok/s  mem 3.1 GiB`` with what is known."""
        parts = []
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.lr is not None:
            parts.append(f"lr {self.lr:.1e}")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:,.0f} tok/s")
        if self.mem_gib is not None:
            parts.append(f"mem {self.mem_gib:.1f} GiB")
        return "  ".join(parts)

    def step_text(self) -> str:
        if self.total_steps:
            pct = 100 * self.step / self.total_steps
            return f"step {self.step}/{self.total_steps} {pct:3.0f}%"
        return f"step {self.step}"


def _memory(event: dict[str, Any]) -> float | None:
    gpus = event.get("gpus")
    if isinstance(gpus, list) and gpus:
        used = [g.get("mem_used_gib") for g in gpus if isinstance(g, dict)]
        numbers = [float(u) for u in used if isinstance(u, (int, float))]
        return max(numbers) if numbers else None
    cpu = event.get("cpu")
    if isinstance(cpu, dict):
        return _float(cpu.get("rss_gib"))
    return None


def fmt_duration(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03``; ``-`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ConsoleView:
    """Turns events into output. Subclasses draw; this base prints plain lines."""

    def __init__(self, run_dir: Path, out: TextIO, log_interval: float) -> None:
        self.run_dir = run_dir
        self.out = out
        self.log_interval = log_interval
        self.progress = Progress(run=run_dir.name)
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
        self.progress.update(event)
        kind = event.get("type")
        if kind == "log":
            self.on_log(event)
        elif kind == "start":
            self.line(self.start_text(event))
        elif kind == "eval":
            metrics = event.get("metrics") or {}
            shown = ", ".join(f"{k} {_num(v)}" for k, v in metrics.items())
            self.line(f"eval at step {event.get('step', '?')}: {shown or 'done'}")
        elif kind == "checkpoint":
            self.line(f"checkpoint at step {event.get('step', '?')}: {event.get('path', '')}")

    def on_log(self, event: dict[str, Any]) -> None:
        t = _float(event.get("t")) or time.time()
        last = self.progress.total_steps and self.progress.step >= self.progress.total_steps
        if self._printed_t is None or t - self._printed_t >= self.log_interval or last:
            self._print_log()
            self._printed_t = t
            self._pending_log = None
        else:
            self._pending_log = event

    def flush_pending(self) -> None:
        """Print the newest throttled progress line (before a final event)."""
        if self._pending_log is not None:
            self._print_log()
            self._pending_log = None

    def status_text(self) -> str:
        """``step 7/40 18%  loss 4.2144  lr 1.9e-04 ...  eta 5:03``: where the run is."""
        p = self.progress
        eta = f"  eta {fmt_duration(p.eta_s)}" if p.eta_s is not None else ""
        return f"{p.step_text()}  {p.stats()}{eta}".rstrip()

    def _print_log(self) -> None:
        self.line(self.status_text())

    def start_text(self, event: dict[str, Any]) -> str:
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
        peak = _float(event.get("peak_mem_gib"))
        if peak is not None:
            planned = _float(event.get("plan_gib")) or plan_gib(self.run_dir)
            kind = " (process RSS)" if event.get("peak_kind") == "rss" else ""
            vs = f" vs plan {planned:.2f} GiB" if planned else " (no plan estimate)"
            parts.append(f"peak memory {peak:.2f} GiB{kind}{vs}")
        if self.progress.started_t and event.get("t"):
            parts.append(f"took {fmt_duration(float(event['t']) - self.progress.started_t)}")
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
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
        from rich.progress import Progress as Bar

        self._console = Console(file=self.out)
        self._bar = Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("eta {task.fields[eta]}"),
            console=self._console,
            transient=False,
        )
        # The header line names the run; the bar keeps its width for the numbers.
        self._task = self._bar.add_task("train", total=None, stats="", eta="-")
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
            stats=p.stats(),
            eta=fmt_duration(p.eta_s),
            refresh=True,
        )


def make_view(run_dir: Path, out: TextIO | None = None, log_interval: float | None = None):
    """A rich view when ``out`` is a terminal, plain lines otherwise."""
    out = sys.stdout if out is None else out
    if log_interval is None:
        log_interval = _float(os.environ.get(LOG_INTERVAL_ENV)) or DEFAULT_LOG_INTERVAL_S
    is_tty = hasattr(out, "isatty") and out.isatty()
    cls = RichConsoleView if is_tty else ConsoleView
    return cls(Path(run_dir), out, log_interval)


def follow(
    run_dir: Path,
    *,
    tail: EventTail | None = None,
    history: list[dict[str, Any]] | None = None,
    process: subprocess.Popen[bytes] | None = None,
    out: TextIO | None = None,
    log_interval: float | None = None,
    poll_s: float = 0.25,
) -> int:
    """Follow a run until it ends; returns the exit code (see the module docstring).

    ``tail``/``history`` come from the launcher for a run it just started (the tail is
    positioned after events of earlier attempts); without them every event so far is
    history. History is folded in silently; if the run is no longer active its outcome is
    printed instead of following.
    """
    run_dir = Path(run_dir)
    view = make_view(run_dir, out, log_interval)
    if tail is None:
        tail = EventTail(run_dir / EVENTS_FILE)
        history = drain(tail)
    history = history or []
    if process is None:
        # Attaching: what happened so far is where the run is. (A run just launched by
        # us has only earlier attempts in its history: their step would be stale.)
        for event in history:
            view.progress.update(event)
        state = read_state(run_dir, events=history)
        if not state.active:
            return _replay(view, state)
    with _Interrupts() as interrupts:  # before the header, so Ctrl+C after it is ours
        view.line(
            f"following {run_dir.name} · Ctrl+C: stop with a checkpoint · "
            f"log {_short_path(run_dir / LOG_FILE)}"
        )
        if view.progress.step:  # attaching mid-run: show where it is before the next event
            view.line(view.status_text())
        elif view.progress.started and isinstance(view.progress.last_start, dict):
            view.line(view.start_text(view.progress.last_start))
        else:  # loading torch, the model and the data takes a while: say why it is quiet
            view.line("waiting for the worker to load the model and data…")
        view.open()
        try:
            return _loop(view, run_dir, tail, process, poll_s, interrupts)
        finally:
            view.close()


def _replay(view: ConsoleView, state: RunState) -> int:
    """A run that is over: print how it ended (``attach`` on a finished run)."""
    view.line(f"run {state.name}: {state.state} ({view.progress.step_text()})")
    if state.state == "crashed":
        return view.crashed(state.pid)
    if state.last_event is not None:
        return view.summary(state.last_event)
    view.line(state.message or "no events yet")
    return 0 if state.state != "failed" else 1


class _Interrupts:
    """Counts Ctrl+C presses via a SIGINT handler instead of KeyboardInterrupt, so a second
    press that lands while the first is being handled cannot escape as a traceback."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: Any = None

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1

    def __enter__(self) -> _Interrupts:
        try:
            self._previous = signal.signal(signal.SIGINT, self)
        except ValueError:  # not the main thread: Ctrl+C stays a KeyboardInterrupt
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _loop(
    view: ConsoleView,
    run_dir: Path,
    tail: EventTail,
    process: subprocess.Popen[bytes] | None,
    poll_s: float,
    interrupts: _Interrupts,
) -> int:
    """Poll events until a final one; check the worker is alive while none arrive."""
    last_alive_check = 0.0
    asked_to_stop = False
    while True:
        # The first press always asks for the stop, even when a second one came quickly.
        if interrupts.count >= 1 and not asked_to_stop:
            from tunetui.runner.stopping import request_stop

            asked_to_stop = True
            request_stop(run_dir, wait_s=0)
            view.line(
                "stopping: saving a checkpoint at the next step…\n"
                "press Ctrl+C again to detach and leave it running"
            )
        if interrupts.count >= 2:
            view.line(f"detached; the run goes on. Follow it again: tunetui attach {run_dir.name}")
            return 130
        events = tail.poll()
        if tail.restarted:
            view.progress = Progress(run=run_dir.name)
        for event in events:
            if event.get("type") in TERMINAL_TYPES:
                view.progress.update(event)
                return view.summary(event)
            view.handle(event)
        if events:
            view.refresh()
            continue
        now = time.monotonic()
        if now - last_alive_check >= _ALIVE_CHECK_S:
            last_alive_check = now
            if not _alive(run_dir, process):
                # One last look: the final event may have landed just before exit.
                for event in tail.poll():
                    if event.get("type") in TERMINAL_TYPES:
                        view.progress.update(event)
                        return view.summary(event)
                    view.handle(event)
                return view.crashed(process.pid if process else _pid(run_dir))
        time.sleep(poll_s)


def _short_path(path: Path) -> str:
    """``path`` relative to the current folder when under it: header lines fit 80 columns."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _alive(run_dir: Path, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    return process_alive(read_json(run_dir / RUN_FILE))


def _pid(run_dir: Path) -> int | None:
    pid = read_json(run_dir / RUN_FILE).get("pid")
    return pid if isinstance(pid, int) else None


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def watch(
    run_dir: Path,
    *,
    headless: bool = False,
    tail: EventTail | None = None,
    history: list[dict[str, Any]] | None = None,
    process: subprocess.Popen[bytes] | None = None,
) -> int:
    """Follow a run with the best view available; returns the exit code.

    The TUI dashboard in an interactive terminal (unless ``headless``), else this console
    view. The dashboard is another part of tunetui; when it cannot be imported the console
    view is used, so `run` and `attach` always work over plain SSH.
    """
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive and not headless:
        try:
            from tunetui.tui.dashboard import run_dashboard  # type: ignore[import-not-found]
        except ImportError:
            run_dashboard = None
        if run_dashboard is not None:
            code = run_dashboard(Path(run_dir))
            return code if isinstance(code, int) else 0
    return follow(Path(run_dir), tail=tail, history=history, process=process)
