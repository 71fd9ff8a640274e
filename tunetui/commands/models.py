"""`tunetui models`: the model catalog that `tunetui plan --model ID` knows by name."""

from __future__ import annotations

import json

import typer

app = typer.Typer(add_completion=False)


@app.command()
def models(
    as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON."),
) -> None:
    """List catalog models (parameter counts derived from each architecture).

    `--model` also takes a local HF model directory or a config.json path.
    """
    from tunetui.planner.models import list_models

    rows = list_models()
    if as_json:
        typer.echo(json.dumps({"models": rows}, indent=2))
        return
    from tunetui.planner.render import render_models

    render_models(rows)
