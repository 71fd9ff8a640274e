"""`tunetui eval`: perplexity, BLEU and ROUGE of a model or adapter on conversational data."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the light CLI imports the evaluator only when the command runs
    from tunetui.runner.infer.evaluate import EvalResult

app = typer.Typer(add_completion=False)

_LABELS = {
    "ppl": "perplexity (responses)",
    "loss": "mean NLL (responses)",
    "bleu": "BLEU-4",
    "rouge-1": "ROUGE-1 F1",
    "rouge-2": "ROUGE-2 F1",
    "rouge-l": "ROUGE-L F1",
    "accuracy": "accuracy % (exact / choice)",
}


@app.command("eval")
def eval_(
    target: str = typer.Argument(
        ..., help="A run (name or folder), an adapter folder, a model folder or a model id."
    ),
    data: str = typer.Option(
        ..., "--data", help="A data file (.json/.jsonl) or a dataset name from dataset_info.json."
    ),
    adapter: str | None = typer.Option(None, "--adapter", help="A LoRA adapter folder to apply."),
    metrics: str = typer.Option(
        "ppl,bleu,rouge", "--metrics", help="Comma list: ppl,bleu,rouge,accuracy."
    ),
    dataset_dir: str | None = typer.Option(
        None, "--dataset-dir", help="Folder with dataset_info.json (default: the run's, or demo)."
    ),
    max_samples: int = typer.Option(200, "--max-samples", min=1, help="Evaluate at most N."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, max=32768),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    cutoff_len: int = typer.Option(1024, "--cutoff-len", min=16),
    predictions: str | None = typer.Option(
        None, "--predictions", help="Also write prompt/reference/prediction rows to this JSONL."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Evaluate on held-out data: perplexity of the reference answers, BLEU/ROUGE of greedy
    generations against them (Chinese is scored per character)."""
    from tunetui.runner.infer.evaluate import evaluate, parse_metrics
    from tunetui.runner.infer.target import resolve_target

    chosen = parse_metrics(metrics)
    resolved = resolve_target(target, adapter)
    result = _with_progress(
        evaluate,
        resolved,
        data,
        chosen,
        dataset_dir=dataset_dir,
        max_samples=max_samples,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        cutoff_len=cutoff_len,
    )
    if predictions and result.predictions:
        from pathlib import Path

        from tunetui.runner.rundir import write_atomic

        rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.predictions)
        write_atomic(Path(predictions), rows)
    if as_json:
        payload = asdict(result)
        payload.pop("predictions")
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_table(result)


def _print_table(result: EvalResult) -> None:
    """The scores as a two-column table under a one-line header."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    console.print(f"{result.target} on {result.data}: {result.samples} samples, {result.seconds} s")
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(_LABELS.get(key, key), f"{value:.2f}")
    console.print(table)


def _with_progress(func, *args, **kwargs):
    """Run ``func`` with a progress bar on stderr when it is a terminal (silent in pipes)."""
    import sys

    if not sys.stderr.isatty():
        return func(*args, **kwargs)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, int] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done)

    with bar:
        return func(*args, progress=update, **kwargs)
