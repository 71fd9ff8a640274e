"""`tunetui init`: write a recipe, with the wizard or (`--headless`) from flags.

Every option the wizard offers is a flag here, derived from the option table
(`tunetui.options`) that also builds the recipe schema and the wizard's state. Flags
left out keep the recipe defaults, except method and sizes: with none of --method, --bits,
--rank, --batch, --grad-accum the planner's recommendation for this machine fills them.
No torch import here: init must answer instantly.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from tunetui.commands.params import with_options
from tunetui.options import OPTIONS

app = typer.Typer(add_completion=False)


def init(
    headless: bool = typer.Option(False, "--headless", help="Write the recipe from flags."),
    output: str = typer.Option("recipe.yaml", "-o", "--output", help="Recipe file; - = stdout."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    **options: Any,
) -> None:
    """Write a recipe: the wizard in a terminal, or --headless from flags."""
    if not headless:
        _wizard(options)
        return
    from tunetui.runner.flags import recipe_and_source
    from tunetui.runner.recipe_io import dump_recipe, save_recipe

    recipe, note = recipe_and_source(**options)
    data_problem = _check_data(recipe)
    if data_problem and not as_json:
        typer.echo(f"warning: the data does not validate yet: {data_problem}", err=True)
    if output == "-":
        typer.echo(dump_recipe(recipe), nl=False)
        return
    path = save_recipe(recipe, output, overwrite=overwrite)
    summary = {
        "path": str(path),
        "name": recipe.name,
        "model": recipe.model.name_or_path,
        "stage": recipe.stage,
        "method": recipe.method,
        "bits": recipe.quantization.bits,
        "batch_size": recipe.training.batch_size,
        "grad_accum": recipe.training.grad_accum,
        "settings_from": note,
        "data_problem": data_problem,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    bits = f" {recipe.quantization.bits}-bit" if recipe.quantization.bits else ""
    typer.echo(
        f"wrote {path}: {recipe.stage} {recipe.method}{bits} on {recipe.model.name_or_path}, "
        f"batch {recipe.training.batch_size} x accum {recipe.training.grad_accum}; "
        f"settings from {note}"
    )
    typer.echo(f"next: tunetui run {path}")


# The recipe flags are not written out here: each option of `tunetui.options` becomes a
# typer option (its flag, help, type and help panel), so `init --headless` cannot drift from
# the recipe schema, the wizard or the planner.
app.command()(with_options(init, OPTIONS))


def _check_data(recipe: object) -> str | None:
    """The data problem `tunetui run` would stop on, or None: warned about, not fatal,
    since the data may be written after the recipe."""
    from tunetui.planner.errors import UserError
    from tunetui.runner.data.validation import validate_data

    try:
        validate_data(recipe)  # type: ignore[arg-type]
    except UserError as err:
        return err.line()
    return None


def _wizard(options: dict[str, Any]) -> None:
    from tunetui.planner.errors import UserError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError(
            "tunetui init opens the wizard, which needs an interactive terminal",
            "Use `tunetui init --headless [flags] -o recipe.yaml` in scripts",
        )
    from tunetui.tui.app import run_app
    from tunetui.tui.state import WizardState

    run_app(WizardState.with_values(**options))  # `init --gpus 4`: the wizard starts there
