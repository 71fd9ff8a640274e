"""`tunetui doctor RECIPE`: versions, disk, EOS, token lengths, the longest batch's memory
and the multi-GPU check, before a GPU-day is spent (`tunetui.runner.doctor`)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(add_completion=False)


@app.command()
def doctor(
    recipe_path: Path = typer.Argument(..., metavar="RECIPE", help="Recipe YAML to check."),
    gpu: str = typer.Option("auto", "--gpu", help="auto (probe), cpu, or a catalog GPU name."),
) -> None:
    """Check a recipe before training: exits 1 when a check finds an error."""
    from tunetui.runner.doctor import run_checks
    from tunetui.runner.recipe_io import load_recipe
    from tunetui.runner.rundir import runs_root

    checks = run_checks(load_recipe(recipe_path), runs_root(), gpu=gpu)
    for check in checks:
        typer.echo(check.line())
    raise typer.Exit(1 if any(c.status == "error" for c in checks) else 0)
