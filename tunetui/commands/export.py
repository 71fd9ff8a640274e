"""`tunetui export`: merge an adapter (HF folder), or write a GGUF + Ollama Modelfile; both
verified against the model they came from, with a pass/fail table."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)


@app.command()
def export(
    source: str = typer.Argument(
        ..., help="A run (name or folder) or an adapter folder; with --gguf also a model folder."
    ),
    output: str | None = typer.Option(
        None, "-o", "--output", help="Where to write (default: <run>/merged, or <run>/gguf)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    base: str | None = typer.Option(
        None, "--base", help="Base model to merge into, if not the one the adapter records."
    ),
    gguf: bool = typer.Option(
        False, "--gguf", help="Write GGUF + an Ollama Modelfile (llama.cpp's converter)."
    ),
    quant: str = typer.Option(
        "q8_0", "--quant", help="GGUF type: f16, q8_0 or q4_k_m (q4 needs the gguf extra)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Merge an adapter into its base model (safetensors + tokenizer), or export to GGUF.

    QLoRA adapters are merged into the base reloaded in 16-bit: merging into 4-bit
    weights would round the trained update away. Every export is checked (merged vs base +
    adapter; GGUF vs HF: metadata, tokenizer, greedy answers, perplexity, Modelfile
    template); a failed check exits 1.
    """
    if gguf:
        _export_gguf(source, output, overwrite, base, quant, as_json)
        return
    from tunetui.runner.infer.export import export as run_export
    from tunetui.runner.infer.verify import Verification

    result = run_export(source, output=output, overwrite=overwrite, base=base)
    report = Verification.from_dict(result.verification) if result.verification else None
    if as_json:
        typer.echo(json.dumps(asdict(result), indent=2))
    else:
        if result.qlora_reloaded_16bit:
            typer.echo("QLoRA run: the base was reloaded in 16-bit and the adapter merged into it.")
        typer.echo(
            f"merged {result.adapter} into {result.base} ({result.dtype}, "
            f"{result.size_mb:.0f} MB, {result.seconds:.0f} s)\nsaved to {result.output}"
        )
        if report is not None:
            typer.echo(report.table())
    if report is not None and not report.passed:
        raise typer.Exit(1)


def _export_gguf(
    source: str, output: str | None, overwrite: bool, base: str | None, quant: str, as_json: bool
) -> None:
    from tunetui.planner.errors import UserError
    from tunetui.runner.infer.gguf import QUANTS
    from tunetui.runner.infer.gguf_export import export_gguf
    from tunetui.runner.infer.target import resolve_target

    if quant not in QUANTS:
        raise UserError(f"unknown --quant {quant!r}", f"choose one of {', '.join(QUANTS)}")
    target = resolve_target(base, adapter=source) if base else resolve_target(source)

    def say(line: str) -> None:
        typer.echo(line, err=as_json)

    result = export_gguf(target, quant, Path(output) if output else None, overwrite, say)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        typer.echo(result.verification.table())
        typer.echo(
            f"wrote {result.gguf} ({result.size_mb:.0f} MB, {result.seconds:.0f} s) "
            f"and {result.modelfile}"
        )
        if result.template_note:
            typer.echo(f"note: {result.template_note}")
        verdict = "use it with" if result.verification.passed else "NOT verified; inspect with"
        typer.echo(
            f"{verdict}: cd {result.output} && ollama create {result.ollama_name} -f Modelfile"
        )
    if not result.verification.passed:
        raise typer.Exit(1)
