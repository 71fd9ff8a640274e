"""`tunetui gpus`: list the GPU catalog that `tunetui plan --gpu NAME` plans for."""

from __future__ import annotations

import json

import typer

app = typer.Typer(add_completion=False)


@app.command()
def gpus(
    as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON."),
) -> None:
    """List known GPUs: usable memory (GiB, as NVML reports it), bf16, dense TFLOPS, bandwidth.

    Use the key (first column) or any alias with `tunetui plan --gpu`.
    """
    from tunetui.planner.gpus import CATALOG

    if as_json:
        typer.echo(json.dumps({"gpus": [spec.to_dict() for spec in CATALOG]}, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    # No grid: every row stays on one line at 80 columns
    # (the longest name, "GeForce RTX 4070 Ti SUPER", wrapped inside the old grid).
    table = Table(
        title="GPU catalog (dense tensor TFLOPS; GeForce: fp32 accumulate)",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    table.add_column("key", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("GiB", justify="right")
    table.add_column("bf16", justify="center")
    table.add_column("TFLOPS", justify="right")
    table.add_column("GB/s", justify="right")
    table.add_column("cc", justify="right")
    for spec in CATALOG:
        tflops = spec.tflops_bf16 if spec.bf16 else spec.tflops_fp16
        table.add_row(
            spec.key,
            spec.name.removeprefix("NVIDIA "),
            f"{spec.memory_gib:.1f}",
            "yes" if spec.bf16 else "no",
            f"{tflops:g}" + ("" if spec.bf16 else "*"),
            f"{spec.bandwidth_gbs:g}",
            "{}.{}".format(*spec.compute_capability),
        )
    console = Console()
    console.print(table)
    console.print("* fp16 (no native bf16). Aliases: `tunetui gpus --json`.")
