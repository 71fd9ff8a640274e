"""`tunetui stop RUN`: ask a run to save a checkpoint and stop.

Sends SIGTERM to the worker and writes RUN/STOP (which also reaches a worker on another
host through a shared filesystem). The worker stops at the next step boundary, so a long
step can take a while; `--wait` blocks until it has. Stopping a run that is not running
is not an error (exit 0): the run is already in the state the user asked for.
"""

from __future__ import annotations

import time

import typer

app = typer.Typer(add_completion=False)


@app.command()
def stop(
    run: str = typer.Argument(..., metavar="RUN", help="Run name or folder."),
    wait: bool = typer.Option(False, "--wait", help="Block until the worker has stopped."),
) -> None:
    """Ask a run to save a checkpoint and stop."""
    from tunetui.runner.rundir import find_run
    from tunetui.runner.runstate import read_state
    from tunetui.runner.stopping import request_stop

    run_dir = find_run(run)
    result = request_stop(run_dir)
    name = result.state.name
    if not result.stop_file:
        typer.echo(f"{name} is not running ({result.state.state}); nothing to stop.")
        raise typer.Exit(0)
    if result.state.state == "unknown":
        typer.echo(
            f"{name} runs on host {result.state.host}: wrote {run_dir / 'STOP'}; it stops "
            "at the next step if the folder is shared, else run `tunetui stop` there."
        )
        raise typer.Exit(0)
    if result.confirmed is None and wait:
        typer.echo(f"stopping {name}: waiting for the checkpoint (Ctrl+C leaves it stopping)…")
        while read_state(run_dir).active:
            time.sleep(0.5)
        result.confirmed = read_state(run_dir).state
    if result.confirmed:
        final = read_state(run_dir)
        typer.echo(f"{name} is {final.state} at step {final.step}.")
        if final.state == "stopped":
            typer.echo(f"resume: tunetui run --resume {name}")
        raise typer.Exit(0)
    typer.echo(
        f"stop requested for {name} (pid {result.state.pid}): the checkpoint will be saved "
        f"at the next step. Watch: tunetui attach {name} · resume later: "
        f"tunetui run --resume {name}"
    )
