"""The headless view of a run: follow events.jsonl until the run ends, and say how.

What is printed (plain lines in a pipe, a rich bar in a terminal) is `runner.consoleview`;
this module reads the events, notices the end of the run and handles Ctrl+C. The choice
between this and the TUI dashboard is the CLI's (`tunetui.commands.run`): the runner never
imports the TUI.

It never talks to the worker except through the two stop channels (SIGTERM + STOP file):
Ctrl+C once asks the run to save a checkpoint and stop, and says so; Ctrl+C again detaches
and leaves the worker running. If the worker dies without a final event (kill -9, the OOM
killer) the follower notices the pid is gone and shows the tail of train.log.

Exit codes: 0 finished or stopped, 1 failed or crashed, 130 detached with Ctrl+C.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any, TextIO

from tunetui.runner.consoleview import (
    LOG_INTERVAL_ENV,
    ConsoleView,
    make_view,
    start_text,
    status_text,
    step_text,
)
from tunetui.runner.events import TERMINAL_TYPES, EventTail
from tunetui.runner.progress import RunProgress
from tunetui.runner.rundir import EVENTS_FILE, LOG_FILE, RUN_FILE, read_json
from tunetui.runner.runstate import RunState, drain, read_state, worker_gone
from tunetui.runner.stopping import request_stop

__all__ = ["LOG_INTERVAL_ENV", "follow"]

# How often to check that the worker is still alive while no events arrive.
_ALIVE_CHECK_S = 1.0


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
        state = read_state(run_dir, events=history)
        view.progress = state.progress
        if not state.active:
            return _replay(view, state)
    with _Interrupts() as interrupts:  # before the header, so Ctrl+C after it is ours
        view.line(
            f"following {run_dir.name} · Ctrl+C: stop with a checkpoint · "
            f"log {_short_path(run_dir / LOG_FILE)}"
        )
        p = view.progress
        if p.step:  # attaching mid-run: show where it is before the next event
            view.line(status_text(p))
        elif p.last_start is not None:
            view.line(start_text(p.last_start))
        else:  # loading torch, the model and the data takes a while: say why it is quiet
            view.line("waiting for the worker to load the model and data…")
        view.open()
        try:
            return _loop(view, run_dir, tail, process, poll_s, interrupts)
        finally:
            view.close()


def _replay(view: ConsoleView, state: RunState) -> int:
    """A run that is over: print how it ended (``attach`` on a finished run)."""
    view.line(f"run {state.name}: {state.state} ({step_text(view.progress)})")
    if state.state == "crashed":
        return view.crashed(state.pid)
    if state.last_event is not None:
        return view.summary(state.last_event)
    view.line(state.message or "no events yet")
    return state.exit_code


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
            view.progress = RunProgress(run_name=run_dir.name)
        code = _show(view, events)
        if code is not None:
            return code
        if events:
            view.refresh()
            continue
        now = time.monotonic()
        if now - last_alive_check >= _ALIVE_CHECK_S:
            last_alive_check = now
            if _gone(run_dir, process):
                # One last look: the final event may have landed just before exit.
                code = _show(view, tail.poll())
                return view.crashed(_pid(run_dir, process)) if code is None else code
        time.sleep(poll_s)


def _show(view: ConsoleView, events: list[dict[str, Any]]) -> int | None:
    """Print a batch of events; the exit code once a final event is among them."""
    for event in events:
        if event.get("type") in TERMINAL_TYPES:
            view.progress.apply(event)
            return view.summary(event)
        view.handle(event)
    return None


def _short_path(path: Path) -> str:
    """``path`` relative to the current folder when under it: header lines fit 80 columns."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _gone(run_dir: Path, process: subprocess.Popen[bytes] | None) -> bool:
    """Has the worker exited? Our own child we ask directly (that also reaps it)."""
    if process is not None:
        return process.poll() is not None
    return worker_gone(run_dir)


def _pid(run_dir: Path, process: subprocess.Popen[bytes] | None) -> int | None:
    if process is not None:
        return process.pid
    pid = read_json(run_dir / RUN_FILE).get("pid")
    return pid if isinstance(pid, int) else None
