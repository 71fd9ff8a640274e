"""`tunetui plan`: will this fine-tuning job fit, and with which settings?

With no method flags it recommends a configuration for the GPU (probed, or `--gpu NAME`);
with any of them it estimates exactly that configuration and says whether it fits. Only the
planner (stdlib dataclasses) is imported, plus json for --json or rich for the tables: no
torch, so it answers in well under a second.
"""

from __future__ import annotations

from typing import Any

import typer

from tunetui.commands.params import with_options
from tunetui.options import OPTIONS, PARALLELS, STAGES

app = typer.Typer(add_completion=False)


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
    gpus: str = typer.Option(
        "1", "--gpus", help="GPUs to shard or replicate over; auto = every probed GPU."
    ),
    parallel: str = typer.Option(None, "--parallel", help=" | ".join(PARALLELS)),
    effective_batch: int = typer.Option(
        16, "--effective-batch", help="Batch x accumulation x GPUs."
    ),
    tokens: int = typer.Option(
        None, "--tokens", help="Dataset size in tokens, for time per epoch."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    no_calibration: bool = typer.Option(
        False,
        "--no-calibration",
        help="The formula alone, without the correction learnt from runs on this machine.",
    ),
    **options: Any,
) -> None:
    """Estimate peak VRAM for a job and recommend settings that fit.

    With no method or size option it recommends a configuration; with any of them it
    estimates exactly that one and says whether it fits. --gpu auto probes NVML; without a
    GPU it plans for CPU/RAM. Figures are per GPU; when the job fits no GPU given, the plan
    proposes a GPU count and --parallel strategy that would. The job options are the
    recipe's, with init's flags.
    """
    from tunetui.planner.errors import UserError
    from tunetui.planner.plan import build_plan

    options["stage"] = options.get("stage") or "sft"
    if options["stage"] not in STAGES:
        from tunetui.planner.errors import unknown

        raise unknown("stage", options["stage"], STAGES)
    if effective_batch < 1 or (tokens is not None and tokens < 1):
        raise UserError("--effective-batch and --tokens must be positive", "Pass values >= 1")
    options["epochs"] = options.get("epochs") or 1.0
    from tunetui.runner.calibration import measurements

    result = build_plan(
        model, params=params, gpu=gpu, gpus=gpus, parallel=parallel,
        effective_batch=effective_batch, dataset_tokens=tokens,
        calibration=None if no_calibration else measurements(), **options,
    )  # fmt: skip
    if as_json:
        import json

        typer.echo(json.dumps(result, indent=2))
        return
    from tunetui.planner.render import render_plan

    render_plan(result)


# The job options (method, rank, batch, cutoff_len …) are the option table's planned ones,
# the same flags `init --headless` takes; the model option above is the plan's own.
app.command()(
    with_options(plan, [o for o in OPTIONS if o.plans and o.name != "model"], panels=False)
)
