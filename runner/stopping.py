"""Stopping a run: a STOP file plus SIGTERM, which the worker turns into "save a
checkpoint, then stop" at the next step boundary (see `runner.train.callbacks`).

Light module (no torch): `tunetui stop`, the console's s key and the dashboard use it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tunetui.runner.events import read_events
from tunetui.runner.rundir import EVENTS_FILE, RUN_FILE, STOP_FILE, read_json, write_atomic
from tunetui.runner.runstate import RunState, read_state


@dataclass
class StopResult:
    """What `request_stop` did, for the CLI to report."""

    state: RunState
    signalled: bool = False
    stop_file: bool = False
    confirmed: str | None = None  # "stopped" | "exited" | None (still saving)


def _attempt_started(run_dir: Path) -> bool:
    """Has the current attempt written its `start` event (so it handles SIGTERM)?"""
    info = read_json(run_dir / RUN_FILE)
    since = info.get("started")
    for event in reversed(read_events(run_dir / EVENTS_FILE)):
        if event.get("type") == "start":
            return not isinstance(since, (int, float)) or event.get("t", 0) >= since - 1
    return False


def request_stop(run_dir: Path, wait_s: float = 2.0) -> StopResult:
    """Ask a running worker to save a checkpoint and stop.

    Writes ``RUN_DIR/STOP`` (works even from another host on a shared filesystem) and sends
    SIGTERM to the worker (this host only). Then waits up to ``wait_s`` for a ``stopped``
    event or the process to exit; a long training step can take longer than that, which is
    fine: the worker stops at the next step boundary.
    """
    run_dir = Path(run_dir)
    state = read_state(run_dir)
    result = StopResult(state)
    if not state.active and state.state != "unknown":
        return result
    write_atomic(run_dir / STOP_FILE, f"stop requested at {time.ctime()} by pid {os.getpid()}\n")
    result.stop_file = True
    if state.active and state.pid and _attempt_started(run_dir):
        # Before its `start` event the worker may still be importing torch, with no SIGTERM
        # handler yet: a signal would kill it outright. It reads the STOP file at its first
        # step boundary instead.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(state.pid, signal.SIGTERM)
            result.signalled = True
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        now = read_state(run_dir)
        if now.state == "stopped":
            result.confirmed = "stopped"
            break
        if not now.active and now.state != "unknown":
            result.confirmed = "exited"
            break
        time.sleep(0.1)
    return result
