"""`tunetui attach [RUN]`: follow a run again after a dropped SSH session or closed view.

A running run is followed live (dashboard in a terminal, console otherwise); a run that is
over prints how it ended. Without RUN, the most recently started run. The exit code is
the run's, as for `tunetui run`: 1 when it failed or crashed.
"""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False)


@app.command()
def attach(
    run: str | None = typer.Argument(
        None, metavar="[RUN]", help="Run name or folder (default: the latest run)."
    ),
    headless: bool = typer.Option(
        False, "--headless", help="Console progress instead of the dashboard."
    ),
) -> None:
    """Follow a run again (dashboard or console); exits 1 if it failed or crashed."""
    from tunetui.commands.run import watch
    from tunetui.runner.rundir import find_run

    raise typer.Exit(watch(find_run(run), headless=headless))
