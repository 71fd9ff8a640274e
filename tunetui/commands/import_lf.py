"""`tunetui import-lf`: convert a LLaMA-Factory training YAML into a tunetui recipe.

Every key that cannot be carried over is reported on stderr, one `warning:` line each, so a
user knows exactly what the converted recipe does not do. Without -o the recipe goes to
stdout (pipe-friendly); with -o it is written atomically and never over an existing file
unless --overwrite.
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(add_completion=False)


@app.command()
def import_lf(
    path: str = typer.Argument(..., help="LLaMA-Factory training YAML (e.g. train_lora_sft.yaml)."),
    output: str | None = typer.Option(
        None, "-o", "--output", help="Recipe file (default, or -: stdout)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing -o file."),
    dataset_dir: str | None = typer.Option(
        None, "--dataset-dir", help="LLaMA-Factory data folder (with dataset_info.json)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print recipe and warnings as JSON."),
) -> None:
    """Convert a LLaMA-Factory YAML; unmappable keys are listed as warnings."""
    from tunetui.runner.lf_import import import_lf as convert
    from tunetui.runner.recipe_io import dump_recipe, save_recipe

    result = convert(path, dataset_dir=dataset_dir)
    if output == "-":  # the usual "stdout" spelling, not a file named "-"
        output = None
    written = str(save_recipe(result.recipe, output, overwrite=overwrite)) if output else None
    if as_json:
        payload = {
            "recipe": result.recipe.model_dump(mode="json"),
            "path": written,
            "mapped": result.mapped,
            "warnings": result.warnings,
            "ignored": result.ignored,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    for line in result.warnings:
        typer.echo(f"warning: {line}", err=True)
    if result.ignored:
        typer.echo(
            "note: LLaMA-Factory runtime settings with no effect here: "
            + ", ".join(result.ignored),
            err=True,
        )
    if written:
        typer.echo(
            f"wrote {written}: {result.recipe.stage} {result.recipe.method} on "
            f"{result.recipe.model.name_or_path} ({len(result.mapped)} keys mapped, "
            f"{len(result.warnings)} warnings). next: tunetui run {written}"
        )
    else:
        typer.echo(dump_recipe(result.recipe), nl=False)
