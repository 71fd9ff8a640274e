"""The dashboard's text, from the runner's fold of a run's events (no Textual here).

The state itself is `tunetui.runner.progress.RunProgress`, the one fold every view uses;
this module only words it for the dashboard's header and progress line, so both are tested
without a terminal. The screen (`tui.dashboard`) only places these strings.
"""

from __future__ import annotations

from pathlib import Path

from tunetui.runner.progress import RunProgress, format_duration

__all__ = ["STATUS_STYLE", "WAITING_TEXT", "progress_line", "status_text"]

# Until the worker's first event (or a resumed attempt's `start`): loading takes a while.
WAITING_TEXT = "waiting for the worker to load the model and data…"
STATUS_LABEL = {"stopping": "stopping (saving a checkpoint)"}

STATUS_STYLE = {
    "waiting": "dim",
    "running": "bold green",
    "stopping": "bold yellow",
    "stopped": "bold yellow",
    "error": "bold red",
    "finished": "bold cyan",
    "crashed": "bold red",
}


def progress_line(view: RunProgress, plan_gib: float | None = None) -> str:
    """``step 120/500 · ep 0.24/1 · 1,234 tok/s · ETA 3m05s · loss 1.234``.

    A finished run ends with its measured peak memory next to the plan's estimate.
    Before the attempt's first event there is nothing to count: say what is going on.
    """
    if view.status == "waiting":
        return WAITING_TEXT
    total = f"/{view.total_steps}" if view.total_steps else ""
    parts = [f"step {view.step}{total}"]
    if view.epoch is not None:
        epochs = f"/{view.num_epochs:g}" if view.num_epochs else ""
        parts.append(f"ep {view.epoch:.2f}{epochs}")
    if view.tokens_per_s is not None:
        parts.append(f"{view.tokens_per_s:,.0f} tok/s")
    if not view.finished:
        parts.append(f"ETA {format_duration(view.eta_s)}")
    if view.loss is not None:
        parts.append(f"loss {view.loss:.4g}")
    if view.eval_loss:
        parts.append(f"eval {view.eval_loss[-1][1]:.4g}")
    if view.peak_mem_gib is not None:
        plan = f" (plan {plan_gib:.1f})" if plan_gib is not None else ""
        parts.append(f"peak {view.peak_mem_gib:.1f} GiB{plan}")
    return " · ".join(parts)


def _short(path: str, run_dir: Path) -> str:
    """A path inside the run folder as ``<run>/...``: the header line is 80 columns."""
    try:
        return str(Path(run_dir.name) / Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return path


def status_text(view: RunProgress, run_dir: Path) -> str:
    """Header line: run name, state and what happens next."""
    name = view.run_name or run_dir.name
    style = STATUS_STYLE.get(view.status, "")
    extra = ""
    if view.status == "finished" and view.output:
        extra = f"  output: {_short(view.output, run_dir)}"
    elif view.status == "stopped" and view.checkpoints:
        extra = f"  saved {Path(view.checkpoints[-1]).name}"
    desc = " ".join(x for x in (view.stage, view.method, view.model) if x)
    label = STATUS_LABEL.get(view.status, view.status)
    return f"[b]{name}[/b]  [{style}]{label}[/]  {desc}{extra}"
