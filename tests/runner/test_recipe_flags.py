"""recipe_from_flags / flags_from_recipe: the init --headless option set, both directions."""

from __future__ import annotations

import shlex

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner import flags as flags_mod
from tunetui.runner.flags import (
    FLAGS,
    apply_recommendation,
    command_line,
    flags_from_recipe,
    recipe_from_flags,
)
from tunetui.runner.recipe import Recipe


def _options_from_args(args: list[str]) -> dict:
    """Parse flags_from_recipe output back into recipe_from_flags options (what typer does)."""
    by_flag = {f.flag: f for f in FLAGS}
    options: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--no-"):
            options[by_flag["--" + arg[5:]].option] = False
            i += 1
            continue
        flag = by_flag[arg]
        if flag.kind == "bool":
            options[flag.name] = True
            i += 1
            continue
        value = args[i + 1]
        if flag.kind == "list":
            options.setdefault(flag.name, []).append(value)
        else:
            options[flag.name] = value
        i += 2
    return options


@pytest.mark.parametrize(
    "options",
    [
        {"method": "lora"},
        {
            "name": "big",
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "method": "qlora",
            "bits": 8,
            "dataset": ["identity", "sharegpt_demo"],
            "template": "llama3",
            "cutoff_len": 2048,
            "packing": True,
            "val_size": 0.1,
            "max_samples": 500,
            "train_on_prompt": True,
            "rank": 32,
            "alpha": 64,
            "dropout": 0.1,
            "targets": "q_proj,v_proj",
            "epochs": 2.5,
            "lr": 1e-4,
            "scheduler": "linear",
            "warmup_ratio": 0.05,
            "batch": 1,
            "grad_accum": 16,
            "grad_ckpt": True,
            "precision": "bf16",
            "optim": "paged_adamw",
            "seed": 7,
            "save_steps": 10,
            "eval_steps": 5,
            "logging_steps": 2,
            "save_total_limit": 3,
            "output_dir": "out/big",
            "report_to": ["tensorboard", "wandb"],
            "trust_remote_code": True,
            "attn": "eager",
            "liger": True,
        },
        {"stage": "dpo", "method": "full", "dataset": ["dpo_demo"], "pref_beta": 0.2},
        {"method": "freeze", "trainable_layers": 4, "train_embeddings": True, "max_steps": 30},
    ],
)
def test_round_trip(options: dict) -> None:
    recipe = recipe_from_flags(**options)
    args = flags_from_recipe(recipe)
    again = recipe_from_flags(**_options_from_args(args))
    assert again == recipe
    line = command_line(recipe)
    assert shlex.split(line)[:3] == ["tunetui", "init", "--headless"]


def test_flags_cover_the_schema() -> None:
    """Every recipe field a user picks in the wizard has a flag (a few expert knobs excepted)."""
    paths = {f.path for f in FLAGS}
    dumped = Recipe().model_dump()
    leaves = {
        f"{k}.{sub}" if isinstance(v, dict) else k
        for k, v in dumped.items()
        for sub in (v if isinstance(v, dict) else [None])
    }
    expert = {
        "data.placeholders",
        "quantization.double_quant",
        "quantization.quant_type",
        "quantization.compute_dtype",
    }
    assert leaves - paths - expert == set()


def test_flag_errors_name_the_flag() -> None:
    with pytest.raises(UserError, match="unknown --stage 'sfft'. Did you mean 'sft'"):
        recipe_from_flags(stage="sfft", method="lora")
    with pytest.raises(UserError, match="--lr=-1.0: input should be greater than 0. Set --lr to"):
        recipe_from_flags(lr=-1.0, method="lora")
    with pytest.raises(UserError, match="unknown option 'learning_rate'"):
        recipe_from_flags(learning_rate=1.0)


def test_comma_separated_datasets() -> None:
    recipe = recipe_from_flags(method="lora", dataset=["identity,sharegpt_demo"])
    assert recipe.data.datasets == ["identity", "sharegpt_demo"]


def test_fallback_without_planner(monkeypatch) -> None:
    monkeypatch.setattr(
        flags_mod,
        "planner_recommendation",
        lambda *a: (dict(flags_mod.FALLBACK), "defaults"),
    )
    recipe = recipe_from_flags(model="smollm2-135m")
    assert (recipe.method, recipe.lora.rank, recipe.training.batch_size) == ("lora", 8, 2)
    assert recipe.training.grad_accum == 4


def test_recommendation_fills_only_unset() -> None:
    rec = {"method": "qlora", "bits": 4, "rank": 16, "batch": 1, "grad_accum": 8}
    merged = apply_recommendation({"rank": 64, "lr": 1e-4}, rec)
    assert merged["rank"] == 64 and merged["method"] == "qlora" and merged["bits"] == 4
    merged = apply_recommendation({"method": "lora"}, rec)
    assert merged["bits"] is None  # a recommended bit width only goes with qlora


@pytest.fixture
def on_a_4090(monkeypatch) -> None:
    """This machine is an RTX 4090 for the planner, whatever really is here."""
    from tunetui.planner import plan

    real = plan.resolve_hardware
    monkeypatch.setattr(plan, "resolve_hardware", lambda gpu, n=1, probe=None: real("4090", n))


@pytest.mark.usefixtures("on_a_4090")
def test_planner_recommendation_is_used_for_an_adapter() -> None:
    rec, note = flags_mod.planner_recommendation("llama-3.1-8b", "sft", 512)
    assert note == "planner recommendation"
    assert rec["method"] in ("lora", "qlora") and rec["rank"] >= 1
    recipe = recipe_from_flags(model="llama-3.1-8b", cutoff_len=512)
    assert (recipe.method, recipe.lora.rank) == (rec["method"], rec["rank"])
    assert (recipe.training.batch_size, recipe.training.grad_accum) == (
        rec["batch"],
        rec["grad_accum"],
    )
    assert recipe.training.gradient_checkpointing == rec["grad_ckpt"]


@pytest.mark.usefixtures("on_a_4090")
def test_planner_recommendation_of_full_fine_tuning_has_no_rank() -> None:
    rec, _ = flags_mod.planner_recommendation("smollm2-135m", "sft", 512)
    assert rec["method"] == "full" and "rank" not in rec
    recipe = recipe_from_flags(model="smollm2-135m", cutoff_len=512)
    assert recipe.method == "full" and recipe.training.batch_size == rec["batch"]


def test_learning_rate_defaults_follow_stage_and_method() -> None:
    from tunetui.runner.flags import flags_from_recipe, recipe_from_flags

    full = recipe_from_flags(method="full", recommend=False)
    lora = recipe_from_flags(method="lora", recommend=False)
    dpo = recipe_from_flags(method="lora", stage="dpo", recommend=False)
    assert full.training.learning_rate == 2e-5
    assert lora.training.learning_rate == 2e-4
    assert dpo.training.learning_rate < lora.training.learning_rate
    # Round trip: a full recipe at the LoRA rate keeps its explicit --lr.
    odd = full.model_copy(
        update={"training": full.training.model_copy(update={"learning_rate": 2e-4})}
    )
    assert "--lr" in flags_from_recipe(odd)
    assert "--lr" not in flags_from_recipe(full)
