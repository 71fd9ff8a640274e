"""`tunetui runs [--json]`: every run with its state, progress, loss, start and duration.

State comes from each run's files (events.jsonl + whether the recorded pid is still the
worker), so it is right even after a reboot or a kill -9; see tunetui.runner.runstate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)

_STATE_STYLE = {
    "running": "green",
    "stopping": "yellow",
    "finished": "bold",
    "stopped": "yellow",
    "failed": "red",
    "crashed": "red",
    "unknown": "dim",
}


@app.command()
def runs(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List runs with their state, progress and final loss."""
    from tunetui.runner.progress import format_duration
    from tunetui.runner.rundir import all_run_dirs, folder_text, runs_root
    from tunetui.runner.runstate import read_state

    # Runs under ./runs and those started from other folders (the user's run index).
    states = [read_state(path) for path in all_run_dirs()]
    if json_out:
        rows = [
            {**s.to_json(), "planned_gib": s.progress.planned_gib,
             "measured_gib": s.progress.measured_gib}
            for s in states
        ]  # fmt: skip
        typer.echo(json.dumps(rows, indent=2))
        return
    if not states:
        typer.echo(f"no runs in {runs_root()}. Start one: tunetui run RECIPE.yaml")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("run", "state", "progress", "loss", "started", "duration"):
        table.add_column(column, justify="right" if column in ("loss", "duration") else "left")
    table.add_column("folder", overflow="fold")  # wrapped, never cut: it says where to go
    for s in states:
        progress = f"{s.step or 0}/{s.total_steps}" if s.total_steps else str(s.step or "-")
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started)) if s.started else "-"
        table.add_row(
            s.name,
            f"[{_STATE_STYLE.get(s.state, '')}]{s.state}[/]",
            progress,
            f"{s.loss:.4f}" if s.loss is not None else "-",
            started,
            format_duration(s.duration_s) if s.duration_s is not None else "-",
            folder_text(Path(s.path).parent),
        )
    console = Console()
    console.print(table)
    # Why a run failed is the next thing a user asks; the table has no room for it (nor
    # for the first step's measured vs planned memory).
    for s in states:
        if s.progress.memory_text:
            console.print(f"{s.name} memory: {s.progress.memory_text}", markup=False)
        if s.state == "failed" and s.message:
            first = s.message.strip().splitlines()[0] if s.message.strip() else "error"
            console.print(
                f"{s.name} failed: {first}",
                markup=False,
                highlight=False,
                overflow="ellipsis",
                no_wrap=True,
            )
