"""`tunetui init`: write a recipe, with the wizard or (`--headless`) from flags.

Every option the wizard offers is a flag here, mapped to the recipe by
`tunetui.runner.flags` (the same table the wizard's "equivalent command line" uses). Flags
left out keep the recipe defaults, except method and sizes: with none of --method, --bits,
--rank, --batch, --grad-accum the planner's recommendation for this machine fills them.
No torch import here: init must answer instantly.
"""

from __future__ import annotations

import json
import sys

import typer

app = typer.Typer(add_completion=False)


@app.command()
def init(
    headless: bool = typer.Option(False, "--headless", help="Write the recipe from flags."),
    output: str = typer.Option("recipe.yaml", "-o", "--output", help="Recipe file; - = stdout."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    name: str | None = typer.Option(None, help="Run name (runs/<name>).", rich_help_panel="Model"),
    model: str | None = typer.Option(
        None, help="Embedded id or local HF model folder.", rich_help_panel="Model"
    ),
    stage: str | None = typer.Option(
        None, help="sft | pt | dpo | kto | orpo | rm", rich_help_panel="Model"
    ),
    method: str | None = typer.Option(
        None, help="full | freeze | lora | dora | qlora", rich_help_panel="Model"
    ),
    dataset: list[str] | None = typer.Option(
        None, help="Dataset name or file (repeatable, or a,b).", rich_help_panel="Data"
    ),
    dataset_dir: str | None = typer.Option(
        None, help="Folder with dataset_info.json.", rich_help_panel="Data"
    ),
    template: str | None = typer.Option(
        None, help="Chat template: auto, chatml, llama3...", rich_help_panel="Data"
    ),
    cutoff_len: int | None = typer.Option(
        None, help="Max tokens per sample.", rich_help_panel="Data"
    ),
    packing: bool | None = typer.Option(None, "--packing/--no-packing", rich_help_panel="Data"),
    val_size: float | None = typer.Option(
        None, help="Held-out fraction, 0-1.", rich_help_panel="Data"
    ),
    max_samples: int | None = typer.Option(
        None, help="Use at most N samples per dataset.", rich_help_panel="Data"
    ),
    train_on_prompt: bool | None = typer.Option(
        None,
        "--train-on-prompt/--no-train-on-prompt",
        help="Loss on prompts too.",
        rich_help_panel="Data",
    ),
    mask_history: bool | None = typer.Option(
        None,
        "--mask-history/--no-mask-history",
        help="Learn only a conversation's last answer.",
        rich_help_panel="Data",
    ),
    rank: int | None = typer.Option(
        None, help="LoRA rank.", rich_help_panel="Adapter / quantization"
    ),
    alpha: int | None = typer.Option(
        None, help="LoRA alpha.", rich_help_panel="Adapter / quantization"
    ),
    dropout: float | None = typer.Option(
        None, help="LoRA dropout.", rich_help_panel="Adapter / quantization"
    ),
    targets: str | None = typer.Option(
        None, help="all | attn | qv | a,b module names.", rich_help_panel="Adapter / quantization"
    ),
    trainable_layers: int | None = typer.Option(
        None, help="freeze: train the last N layers.", rich_help_panel="Adapter / quantization"
    ),
    train_embeddings: bool | None = typer.Option(
        None, "--train-embeddings/--no-train-embeddings", rich_help_panel="Adapter / quantization"
    ),
    bits: int | None = typer.Option(
        None, help="QLoRA bits: 4 or 8.", rich_help_panel="Adapter / quantization"
    ),
    epochs: float | None = typer.Option(None, rich_help_panel="Training"),
    max_steps: int | None = typer.Option(
        None, help="Overrides --epochs.", rich_help_panel="Training"
    ),
    lr: float | None = typer.Option(None, help="Learning rate.", rich_help_panel="Training"),
    scheduler: str | None = typer.Option(
        None, help="cosine | linear | constant ...", rich_help_panel="Training"
    ),
    warmup_ratio: float | None = typer.Option(None, rich_help_panel="Training"),
    batch: int | None = typer.Option(
        None, help="Per-device batch size.", rich_help_panel="Training"
    ),
    grad_accum: int | None = typer.Option(
        None, help="Gradient accumulation steps.", rich_help_panel="Training"
    ),
    grad_ckpt: bool | None = typer.Option(
        None, "--grad-ckpt/--no-grad-ckpt", rich_help_panel="Training"
    ),
    precision: str | None = typer.Option(
        None, help="auto | bf16 | fp16 | fp32", rich_help_panel="Training"
    ),
    optim: str | None = typer.Option(
        None, help="adamw | adamw_8bit | paged_adamw ...", rich_help_panel="Training"
    ),
    seed: int | None = typer.Option(None, rich_help_panel="Training"),
    save_steps: int | None = typer.Option(None, rich_help_panel="Output"),
    eval_steps: int | None = typer.Option(None, rich_help_panel="Output"),
    logging_steps: int | None = typer.Option(None, rich_help_panel="Output"),
    save_total_limit: int | None = typer.Option(None, rich_help_panel="Output"),
    pref_beta: float | None = typer.Option(
        None, help="Beta for DPO/KTO/ORPO.", rich_help_panel="Training"
    ),
    weight_decay: float | None = typer.Option(None, rich_help_panel="Training"),
    max_grad_norm: float | None = typer.Option(None, rich_help_panel="Training"),
    output_dir: str | None = typer.Option(
        None, help="Default: runs/<name>.", rich_help_panel="Output"
    ),
    report_to: list[str] | None = typer.Option(
        None, help="none | tensorboard | wandb | mlflow (repeatable).", rich_help_panel="Output"
    ),
    trust_remote_code: bool | None = typer.Option(
        None, "--trust-remote-code/--no-trust-remote-code", rich_help_panel="Model"
    ),
    attn: str | None = typer.Option(
        None, help="sdpa | flash_attention_2 | eager", rich_help_panel="Model"
    ),
    liger: bool | None = typer.Option(None, "--liger/--no-liger", rich_help_panel="Model"),
) -> None:
    """Write a recipe: the wizard in a terminal, or --headless from flags."""
    options = {k: v for k, v in locals().items() if k not in _NOT_RECIPE}
    if not headless:
        _wizard()
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


_NOT_RECIPE = {"headless", "output", "overwrite", "as_json"}


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


def _wizard() -> None:
    from tunetui.planner.errors import UserError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError(
            "tunetui init opens the wizard, which needs an interactive terminal",
            "Use `tunetui init --headless [flags] -o recipe.yaml` in scripts",
        )
    from tunetui.tui.app import run_app

    run_app()
