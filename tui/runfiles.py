"""Reading a run directory for the views: train.log tail, plan.json, run listing, stop.

The runner owns the run directory (`runner.rundir`, `runner.launcher`); these helpers use
its functions when they are installed and fall back to the documented layout
(docs/ARCHITECTURE.md: recipe.yaml, plan.json, events.jsonl, train.log, run.json, STOP)
so the dashboard keeps working on any run directory, finished or live.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunetui.runner.events import EVENTS_FILE, TextTail, read_events
from tunetui.runner.rundir import read_json

LOG_FILE = "train.log"
PLAN_FILE = "plan.json"
RUN_FILE = "run.json"


class LogTail(TextTail):
    """Non-blocking follower of train.log: new complete lines since the last poll.

    It holds a partial last line back and starts over when the file shrinks or is
    replaced, so a `--resume` that rewrites train.log shows cleanly (`TextTail`).
    """

    def poll(self, max_bytes: int = 1 << 20) -> list[str]:
        return self.lines(max_bytes, split_cr=True)


def _find_number(obj: Any, keys: tuple[str, ...]) -> float | None:
    """First numeric value under one of `keys`, searching nested dicts breadth-first."""
    queue = [obj]
    while queue:
        node = queue.pop(0)
        if not isinstance(node, dict):
            continue
        for key in keys:
            value = node.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        queue.extend(v for v in node.values() if isinstance(v, dict))
    return None


def plan_estimate_gib(run_dir: Path) -> float | None:
    """The VRAM the run was planned to need (plan.json), to draw against measured memory."""
    plan = read_json(run_dir / PLAN_FILE)
    estimate = plan.get("estimate", plan)
    return _find_number(estimate, ("total_gib", "reserved_gib", "peak_gib", "allocated_gib"))


def live_state(run_dir: Path) -> str | None:
    """``"running"`` or ``"stopping"`` while a worker of this run is alive, else None.

    The runner's `read_state` is the one judge of liveness: after `run --resume` the events
    file still ends with the earlier attempt's ``stopped``/``error`` until the new worker
    writes its ``start``, so "any terminal event" would call a live run over.
    """
    try:
        from tunetui.runner.runstate import read_state
    except ImportError:  # a runner without runstate: fall back to the process check
        return "running" if (run_dir / RUN_FILE).exists() and not process_gone(run_dir) else None
    state = read_state(run_dir)
    return state.state if state.active else None


@dataclass
class RunSummary:
    """One row of the runs screen."""

    name: str
    path: Path
    status: str
    step: int
    total_steps: int | None
    loss: float | None
    started: float | None


def summarize_run(run_dir: Path) -> RunSummary:
    """State of one run from its events (the runs screen replays them, it is cheap)."""
    from tunetui.tui.runview import RunView

    view = RunView()
    events = read_events(run_dir / EVENTS_FILE)
    view.apply_all(events)
    status = view.status
    if status in ("running", "waiting") and not _alive(run_dir):
        status = "dead" if events else "empty"
    started = next((e.get("t") for e in events if e.get("type") == "start"), None)
    return RunSummary(
        name=run_dir.name,
        path=run_dir,
        status=status,
        step=view.step,
        total_steps=view.total_steps,
        loss=view.loss,
        started=started if isinstance(started, (int, float)) else None,
    )


def list_runs(root: str | os.PathLike[str] | None = None) -> list[RunSummary]:
    """Runs under `root` (default: the runner's runs root), newest first.

    Uses `runner.rundir` / `runner.runstate` (the same state `tunetui runs` shows) when
    installed, else replays each folder's events.
    """
    try:
        from tunetui.runner.rundir import list_run_dirs
        from tunetui.runner.runstate import read_state
    except ImportError:
        list_run_dirs = read_state = None  # type: ignore[assignment]
    if list_run_dirs is not None and read_state is not None:
        dirs = list_run_dirs(None if root is None else Path(root))
        out = []
        for path in reversed(dirs):
            st = read_state(path)
            out.append(
                RunSummary(
                    st.name, path, st.state, st.step or 0, st.total_steps, st.loss, st.started
                )
            )
        return out
    base = Path(root or "runs")
    if not base.is_dir():
        return []
    dirs = [
        p
        for p in base.iterdir()
        if p.is_dir() and ((p / EVENTS_FILE).exists() or (p / "recipe.yaml").exists())
    ]
    dirs.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [summarize_run(p) for p in dirs]


def _pid(run_dir: Path) -> int | None:
    pid = read_json(run_dir / RUN_FILE).get("pid")
    return pid if isinstance(pid, int) and pid > 0 else None


def _alive(run_dir: Path) -> bool:
    """Is the run's worker process still there? (no run.json: assume it may be)."""
    pid = _pid(run_dir)
    if pid is None:
        return not (run_dir / RUN_FILE).exists()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_gone(run_dir: Path) -> bool:
    """True only when run.json names a worker on this host and it is no longer running.

    Unknown stays "not gone": no pid yet (still launching), another host (shared disk).
    """
    info = read_json(run_dir / RUN_FILE)
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        from tunetui.runner.runstate import current_host, process_alive
    except ImportError:
        return not _alive(run_dir)
    host = info.get("host")
    if isinstance(host, str) and host and host != current_host():
        return False
    return not process_alive(info)


def request_stop(run_dir: Path) -> str:
    """Ask the run to checkpoint and stop, as `tunetui stop` does. Returns what was done.

    Never waits: the UI thread must not block; the dashboard shows ``stopped`` when the
    worker's event arrives.
    """
    try:
        from tunetui.runner.stopping import request_stop as runner_stop
    except ImportError:
        runner_stop = None
    if runner_stop is not None:
        result = runner_stop(run_dir, wait_s=0.0)
        if not (result.stop_file or result.signalled):
            return f"the run is not running ({result.state.state})"
        return "stop requested: a checkpoint is saved at the next step, then the run stops"
    (run_dir / "STOP").touch()
    pid = _pid(run_dir)
    if pid is None:
        return "stop requested (STOP file written; no run.json with a pid)"
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "the run's process is already gone"
    return f"stop requested: SIGTERM sent to {pid}; a checkpoint is saved at the next step"
