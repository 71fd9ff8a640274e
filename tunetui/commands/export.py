"""`tunetui export`: merge a LoRA/DoRA/QLoRA adapter into its base model."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

app = typer.Typer(add_completion=False)


@app.command()
def export(
    source: str = typer.Argument(..., help="A run folder (runs/<name>) or an adapter folder."),
    output: str | None = typer.Option(
        None, "-o", "--output", help="Where to write the merged model (default: <run>/merged)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    base: str | None = typer.Option(
        None, "--base", help="Base model to merge into, if not the one the adapter records."
    ),
    gguf: bool = typer.Option(False, "--gguf", help="Also write GGUF (not supported yet)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Merge an adapter into its base model and save safetensors + tokenizer.

    QLoRA adapters are merged into the base reloaded in 16-bit: merging into 4-bit
    weights would round the trained update away.
    """
    from tunetui.planner.errors import UserError

    if gguf:
        raise UserError(
            "--gguf is not supported: the gguf package has no HF-to-GGUF converter "
            "(that lives in llama.cpp)",
            "export without --gguf, then run llama.cpp's convert_hf_to_gguf.py on the folder",
        )
    from tunetui.runner.infer.export import export as run_export

    result = run_export(source, output=output, overwrite=overwrite, base=base)
    if as_json:
        typer.echo(json.dumps(asdict(result), indent=2))
        return
    if result.qlora_reloaded_16bit:
        typer.echo("QLoRA run: the base was reloaded in 16-bit and the adapter merged into it.")
    typer.echo(
        f"merged {result.adapter} into {result.base} ({result.dtype}, "
        f"{result.size_mb:.0f} MB, {result.seconds:.0f} s)\nsaved to {result.output}"
    )
