"""`tunetui plan`: will this fine-tuning job fit, and with which settings?

With no method flags it recommends a configuration for the GPU (probed, or `--gpu NAME`);
with any of them it estimates exactly that configuration and says whether it fits. Only the
planner (stdlib dataclasses) is imported, plus json for --json or rich for the tables: no
torch, so it answers in well under a second.
"""

from __future__ import annotations

import typer

from tunetui.options import ATTENTIONS, METHODS, OPTIMIZERS, PARALLELS, PRECISIONS, STAGES

app = typer.Typer(add_completion=False)


@app.command()
def plan(
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Catalog id, HF dir or config.json. Default: smollm2-135m, or a generic shape "
        "of --params.",
    ),
    params: str = typer.Option(
        None, "--params", help="Model size, e.g. 7B: alone, a generic shape of that size."
    ),
    gpu: str = typer.Option("auto", "--gpu", help="auto (probe), cpu, or a catalog GPU name."),
    gpus: int = typer.Option(1, "--gpus", help="Number of GPUs."),
    method: str = typer.Option(None, "--method", help="|".join(METHODS)),
    bits: int = typer.Option(None, "--bits", help="4|8|16 (base weights)."),
    rank: int = typer.Option(None, "--rank", help="LoRA rank. Default 8."),
    targets: str = typer.Option(
        None, "--targets", help="all|attn|qv, or module names: gate_proj,up_proj,down_proj."
    ),
    batch: int = typer.Option(None, "--batch", help="Per-device batch size. Default 2."),
    grad_accum: int = typer.Option(None, "--grad-accum", help="Gradient accumulation steps."),
    cutoff_len: int = typer.Option(
        None, "--cutoff-len", "--seq", help="Sequence length (tokens). Default 1024."
    ),
    grad_ckpt: bool = typer.Option(
        None, "--grad-ckpt/--no-grad-ckpt", help="Gradient checkpointing."
    ),
    optim: str = typer.Option(None, "--optim", help="|".join(OPTIMIZERS)),
    precision: str = typer.Option(None, "--precision", help="|".join(PRECISIONS)),
    attn: str = typer.Option(None, "--attn", help="|".join(ATTENTIONS)),
    stage: str = typer.Option("sft", "--stage", help="|".join(STAGES)),
    parallel: str = typer.Option(None, "--parallel", help="|".join(PARALLELS)),
    effective_batch: int = typer.Option(
        16, "--effective-batch", help="Batch x accumulation x GPUs."
    ),
    tokens: int = typer.Option(
        None, "--tokens", help="Dataset size in tokens, for time per epoch."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Estimate peak VRAM for a job and recommend settings that fit.

    With no --method/--bits/--rank/--targets/--batch/--grad-accum/--grad-ckpt/--optim/--precision it
    recommends a configuration; with any of them it estimates exactly that one and says
    whether it fits. --gpu auto probes NVML; without a GPU it plans for CPU/RAM.
    """
    from tunetui.planner.errors import UserError
    from tunetui.planner.plan import build_plan

    if stage not in STAGES:
        from tunetui.planner.errors import unknown

        raise unknown("stage", stage, STAGES)
    if effective_batch < 1 or (tokens is not None and tokens < 1):
        raise UserError("--effective-batch and --tokens must be positive", "Pass values >= 1")
    result = build_plan(
        model, params=params, gpu=gpu, gpus=gpus, method=method, bits=bits, rank=rank,
        targets=targets, batch=batch, grad_accum=grad_accum, cutoff_len=cutoff_len,
        grad_ckpt=grad_ckpt, optim=optim,
        precision=precision, attn=attn, stage=stage, parallel=parallel,
        effective_batch=effective_batch, dataset_tokens=tokens,
    )  # fmt: skip
    if as_json:
        import json

        typer.echo(json.dumps(result, indent=2))
        return
    from tunetui.planner.render import render_plan

    render_plan(result)
