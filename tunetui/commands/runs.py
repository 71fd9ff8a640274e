"""`tunetui runs [--json]`: every run with its state, progress, loss, start and duration.

State comes from each run's files (events.jsonl + whether the recorded pid is still the
worker), so it is right even after a reboot or a kill -9; see tunetui.runner.runstate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tunetui.runner.runstate import RunState

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


def layout(state: RunState) -> dict[str, Any]:
    """How a run is spread: ``parallel`` (strategy), ``gpus`` (processes over all machines)
    and ``num_machines``, under the option names. From the attempt's ``start`` event (what
    really ran: ``distributed.world_size``); before it, from the run's recipe.yaml (the
    count may be "every visible GPU": None). ``gpus`` is 0 for one process on the CPU."""
    start = state.progress.last_start
    if isinstance(start, dict):
        spread = start.get("distributed")
        if isinstance(spread, dict):
            return {"parallel": spread.get("strategy"), "gpus": spread.get("world_size"),
                    "num_machines": spread.get("num_machines")}  # fmt: skip
        return {"parallel": "none", "gpus": 0 if start.get("device") == "cpu" else 1,
                "num_machines": 1}  # fmt: skip
    return _recipe_layout(Path(state.path))


def _recipe_layout(run_dir: Path) -> dict[str, Any]:
    import yaml

    from tunetui.options import BY_NAME
    from tunetui.runner.recipe_io import get_dotted
    from tunetui.runner.rundir import RECIPE_FILE

    try:
        data = yaml.safe_load((run_dir / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict):
        return {"parallel": None, "gpus": None, "num_machines": None}

    def get(name: str) -> Any:
        try:
            return get_dotted(data, BY_NAME[name].path)
        except (KeyError, TypeError):  # a recipe from before the `distributed` section
            return None

    got = {name: get(name) for name in ("parallel", "gpus", "num_machines")}
    parallel, machines = got["parallel"] or "none", got["num_machines"] or 1
    gpus = got["gpus"] * machines if isinstance(got["gpus"], int) else got["gpus"]
    if parallel == "none":
        gpus = 1
    return {"parallel": parallel, "gpus": gpus, "num_machines": machines}


def layout_text(spread: dict[str, Any]) -> str:
    """``zero3 x8``; ``ddp 2x8`` (2 machines of 8); ``1`` (one GPU); ``cpu``; ``-``."""
    parallel, gpus = spread.get("parallel"), spread.get("gpus")
    if parallel is None:
        return "-"
    if parallel == "none":
        return "cpu" if gpus == 0 else "1"
    machines = spread.get("num_machines") or 1
    if machines > 1 and isinstance(gpus, int):
        return f"{parallel} {machines}x{gpus // machines}"
    return f"{parallel} x{gpus if gpus else 'all'}"


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
            {**s.to_json(), **layout(s), "planned_gib": s.progress.planned_gib,
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
    for column in ("run", "state", "gpus", "progress", "loss", "started", "duration"):
        right = column in ("loss", "duration")
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    table.add_column("folder", overflow="fold")  # wrapped, never cut: it says where to go
    for s in states:
        progress = f"{s.step or 0}/{s.total_steps}" if s.total_steps else str(s.step or "-")
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started)) if s.started else "-"
        table.add_row(
            s.name,
            f"[{_STATE_STYLE.get(s.state, '')}]{s.state}[/]",
            layout_text(layout(s)),
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
