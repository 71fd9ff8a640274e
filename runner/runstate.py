"""The state of a run, read from its files alone (events.jsonl + run.json + the pid).

Views never talk to the worker; they read what it wrote. A run is:

- ``running``  : its worker process is alive (``stopping`` once a stop was requested);
- ``finished`` : the last attempt ended with an ``end`` event;
- ``stopped``  : a user asked it to stop and it saved a checkpoint (resumable);
- ``failed``   : the worker reported an ``error``;
- ``crashed``  : the worker is gone without a terminal event (kill -9, OOM killer, reboot);
- ``unknown``  : it was started on another host and has no terminal event yet.

Only the events after the latest ``start`` count, because ``run --resume`` appends a new
attempt (a new ``start``) after an earlier ``stopped`` or crash.

Liveness checks the pid *and* its start time (recorded in run.json), so a pid reused by an
unrelated process after a reboot or a long time is not mistaken for the worker.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import psutil
from tunetui.runner.events import TERMINAL_TYPES, EventTail, parse_line
from tunetui.runner.progress import RunProgress, number
from tunetui.runner.rundir import EVENTS_FILE, LOG_FILE, RUN_FILE, STOP_FILE, read_json

STATES = ("running", "stopping", "finished", "stopped", "failed", "crashed", "unknown")
ACTIVE_STATES = ("running", "stopping")
# States in which `run` and `attach` exit 1: the run did not get where it was going.
FAILED_STATES = ("failed", "crashed")
_TERMINAL_STATE = {"end": "finished", "stopped": "stopped", "error": "failed"}
# psutil's create_time and ours come from the same clock but are rounded differently.
_START_TOLERANCE_S = 2.0
# How long a run folder without a pid counts as "being launched" rather than crashed.
_SPAWN_GRACE_S = 30.0


@dataclass
class RunState:
    """What `tunetui runs`, `attach`, `stop` and `run --resume` need to know about a run."""

    name: str
    path: str
    state: str
    step: int | None = None
    total_steps: int | None = None
    loss: float | None = None
    started: float | None = None
    ended: float | None = None
    duration_s: float | None = None
    pid: int | None = None
    host: str | None = None
    resumed: int = 0
    message: str | None = None
    output: str | None = None
    last_event: dict[str, Any] | None = field(default=None, repr=False)
    # The fold of the events read: all of them when the caller passed them, else the
    # recent ones (`recent_events`, no device samples), which is all `runs` shows.
    progress: RunProgress = field(default_factory=RunProgress, repr=False)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def exit_code(self) -> int:
        """What `run` and `attach` exit with for a run in this state: 1 failed or crashed."""
        return 1 if self.state in FAILED_STATES else 0

    def to_json(self) -> dict[str, Any]:
        """The ``tunetui runs --json`` object for this run (no raw event, no fold)."""
        hidden = ("last_event", "progress")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}


def current_host() -> str:
    return socket.gethostname()


def process_alive(info: dict[str, Any]) -> bool:
    """Whether the worker recorded in run.json is still running on this host.

    A zombie (exited, not yet reaped by its parent) counts as dead. When run.json has the
    process start time, a pid now owned by a later process is dead too.
    """
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = info.get("pid_create_time")
        if isinstance(created, (int, float)):
            return abs(proc.create_time() - created) <= _START_TOLERANCE_S
        # No start time recorded (older run.json): fall back to the command line.
        run_dir = str(info.get("run_dir", ""))
        return not run_dir or any(run_dir in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def worker_gone(run_dir: Path) -> bool:
    """True only when run.json names a worker on this host and it is no longer running.

    Unknown stays "not gone": no pid yet (still launching), another host (shared disk).
    Views that follow a run use it to notice a worker killed without a final event.
    """
    info = read_json(Path(run_dir) / RUN_FILE)
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if info.get("host") not in (None, "", current_host()):
        return False
    return not process_alive(info)


def drain(tail: EventTail) -> list[dict[str, Any]]:
    """Every event the tail has not returned yet (``poll`` reads at most 4 MiB a call).

    Views use it to read a run's history in full before following, so that an old
    ``stopped`` deep in a long events file is not mistaken for a new one.
    """
    events: list[dict[str, Any]] = []
    while batch := tail.poll():
        events.extend(batch)
    return events


def last_attempt(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events from the latest ``start`` on (all events if there is no start)."""
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("type") == "start":
            return events[i:]
    return events


_GPU_MARK = b'"type":"gpu"'
_GPU_MARK_SPACED = b'"type": "gpu"'


def recent_events(path: Path, chunk: int = 256 * 1024) -> list[dict[str, Any]]:
    """The events a run's state needs, oldest first, read from the end of the file.

    That is everything but the ``gpu`` samples (save the newest event of all, the time of
    a crash) from the latest ``start`` on, and further back only until a logged loss is
    found (a just-resumed attempt has none yet). A day-long run writes ~15 MB of events,
    mostly ``gpu`` samples; parsing all of them made `tunetui runs` take a second per run,
    and `stop` re-reads the state ten times a second. A partial last line is skipped.
    """
    newest_first: list[dict[str, Any]] = []
    have_start = have_loss = False
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; open may fail
    except OSError:
        return []
    with fh:
        pos = fh.seek(0, os.SEEK_END)
        carry = b""
        while pos > 0 and not (have_start and have_loss):
            size = min(chunk, pos)
            pos -= size
            fh.seek(pos)
            lines = (fh.read(size) + carry).split(b"\n")
            carry = lines.pop(0) if pos > 0 else b""  # may be cut: joined with the next read
            for raw in reversed(lines):
                if newest_first and (_GPU_MARK in raw or _GPU_MARK_SPACED in raw):
                    continue  # device samples: most of the file; only the newest counts
                event = parse_line(raw.decode("utf-8", errors="replace"))
                if event is None:
                    continue
                newest_first.append(event)
                kind = event.get("type")
                have_start = have_start or kind == "start"
                have_loss = have_loss or (kind == "log" and event.get("loss") is not None)
                if have_start and have_loss:
                    break
    return newest_first[::-1]


def _first_event(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                event = parse_line(line)
                if event is not None:
                    return event
    except OSError:
        pass
    return None


def read_state(run_dir: Path, events: list[dict[str, Any]] | None = None) -> RunState:
    """Read a run's state from its directory (pass ``events`` if already read)."""
    run_dir = Path(run_dir)
    info = read_json(run_dir / RUN_FILE)
    if events is None:
        events = recent_events(run_dir / EVENTS_FILE)
    attempt = last_attempt(events)
    state = RunState(
        name=run_dir.name,
        path=str(run_dir.absolute()),
        state="unknown",
        pid=info.get("pid") if isinstance(info.get("pid"), int) else None,
        host=info.get("host"),
        resumed=int(info.get("resumed", 0) or 0),
        started=_first_number(info.get("first_started"), info.get("started")),
    )
    if state.started is None:  # no run.json times: the file's first event
        first = _first_event(run_dir / EVENTS_FILE)
        state.started = _first_number(first.get("t")) if first else None
    _fill_progress(state, events, attempt)

    terminal = next((e for e in reversed(attempt) if e.get("type") in TERMINAL_TYPES), None)
    on_this_host = state.host in (None, current_host())
    alive = on_this_host and process_alive(info)
    if alive and not _of_current_attempt(terminal, info):
        # A live worker wins over an earlier attempt's final event: after `run --resume`
        # the old `stopped` may still be the last event until the new attempt's `start`.
        # Its own final event wins over it (it may take seconds to exit after `error`).
        state.state = "stopping" if (run_dir / STOP_FILE).exists() else "running"
    elif terminal is not None:
        state.state = _TERMINAL_STATE[terminal["type"]]
        state.ended = _first_number(terminal.get("t"))
        state.last_event = terminal
        if terminal["type"] == "error":
            state.message = str(terminal.get("message") or "error")
        if terminal["type"] == "end" and terminal.get("output"):
            state.output = str(terminal["output"])
    elif "pid" not in info and not events and _age_s(run_dir / RUN_FILE) < _SPAWN_GRACE_S:
        state.state = "running"  # the launcher is between creating the folder and spawning
        state.message = "starting"
    elif not on_this_host:
        state.state = "unknown"
        state.message = f"started on host {state.host}; check there"
    elif (run_dir / STOP_FILE).exists() and not any(e.get("type") == "log" for e in attempt):
        state.state = "stopped"  # asked to stop while still loading: nothing to save yet
        state.message = "stopped before the first step; no checkpoint"
    else:
        state.state = "crashed"
        state.message = "the worker exited without a final event; see " + str(run_dir / LOG_FILE)
        state.ended = _first_number(events[-1].get("t")) if events else None
    end_time = state.ended if state.ended is not None else (time.time() if alive else None)
    if state.started is not None and end_time is not None:
        state.duration_s = max(0.0, end_time - state.started)
    return state


def _of_current_attempt(event: dict[str, Any] | None, info: dict[str, Any]) -> bool:
    """Was ``event`` written by the worker that run.json records (not an earlier one)?"""
    if event is None:
        return False
    started, t = info.get("started"), event.get("t")
    if not isinstance(started, (int, float)) or not isinstance(t, (int, float)):
        return False  # cannot tell: the live worker wins, as before
    # `started` is taken right after the spawn; a worker needs far longer than that to
    # import and write anything, and an earlier attempt's events all come before it.
    return t >= started


def _fill_progress(
    state: RunState, events: list[dict[str, Any]], attempt: list[dict[str, Any]]
) -> None:
    """Step, total and the latest loss from the one fold of events (`RunProgress`)."""
    progress = state.progress
    progress.run_name = state.name
    progress.apply_all(events)
    if progress.events_seen:
        state.step, state.total_steps = progress.step, progress.total_steps
    state.loss = progress.loss
    end = next((e for e in reversed(attempt) if e.get("type") == "end"), None)
    metrics = end.get("metrics") if end is not None else None
    if state.loss is None and isinstance(metrics, dict):
        state.loss = number(metrics.get("train_loss"))  # nothing logged: the final mean


def log_tail(run_dir: Path, lines: int = 15) -> str:
    """The last lines of train.log (where tracebacks and crash messages land)."""
    path = Path(run_dir) / LOG_FILE
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _first_number(*values: Any) -> float | None:
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
