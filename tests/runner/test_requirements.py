"""What a recipe needs is checked at `tunetui run`, before a run folder exists: one line
naming the extra to install (or the setting to change), exit 2, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CASES = [
    ("optimizer galore", "method: full\ntraining:\n  optimizer: galore\n", "galore_torch",
     "pip install 'tunetui[galore]'"),
    ("report_to wandb", "report_to: [wandb]\n", "wandb", "pip install 'tunetui[wandb]'"),
    ("report_to mlflow", "report_to: [mlflow]\n", "mlflow", "pip install 'tunetui[mlflow]'"),
    ("qlora", "method: qlora\n", "bitsandbytes", "pip install 'tunetui[train]'"),
    ("8-bit adam", "training:\n  optimizer: adamw_8bit\n", "bitsandbytes", "or use optimizer"),
]  # fmt: skip


def _recipe(fake_runs, extra: str) -> Path:
    recipe = fake_runs("needs")
    text = recipe.read_text()
    if extra.startswith("training:"):
        text = text.replace("training:\n", extra)
    elif "\ntraining:\n" in extra:
        head, tail = extra.split("training:\n")
        text = head + text.replace("training:\n", "training:\n" + tail)
    else:
        text += extra
    recipe.write_text(text)
    return recipe


@pytest.mark.parametrize(("what", "extra", "module", "fix"), CASES)
def test_a_missing_package_is_named_before_launch(
    cli, fake_runs, hide_packages, tmp_path, what, extra, module, fix
) -> None:
    hide_packages(module)
    code, _, err = cli("run", str(_recipe(fake_runs, extra)), "--detach")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "is not installed" in err and fix in err
    assert not (tmp_path / "runs" / "needs").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("stage: kto\ndata:\n  datasets: [kto_demo]\ntraining:\n  batch_size: 1\n",
         "stage kto needs a batch of 2 or more"),
        ("stage: dpo\ndata:\n  datasets: [dpo_demo]\n  packing: true\n",
         "data.packing works for stages sft, pt, not dpo"),
        ("method: lora\ntraining:\n  optimizer: galore\n",
         "optimizer galore trains full weight matrices"),
    ],
)  # fmt: skip
def test_trainer_constraints_are_checked_before_launch(
    cli, fake_runs, tmp_path, extra, needle
) -> None:
    code, _, err = cli("run", str(_recipe(fake_runs, extra)), "--detach")
    assert code == 2 and needle in err, err
    assert not (tmp_path / "runs" / "needs").exists()


def test_a_gptq_base_needs_its_kernels_and_an_adapter(
    cli, fake_runs, hide_packages, tiny_model_dir, tmp_path
) -> None:
    import shutil

    model = tmp_path / "gptq-model"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (model / "config.json").write_text(json.dumps(config))
    hide_packages("gptqmodel", "auto_gptq", "optimum")
    recipe = _recipe(fake_runs, f"model:\n  name_or_path: {model}\n")
    code, _, err = cli("run", str(recipe), "--detach")
    assert code == 2 and "a GPTQ-quantized base needs" in err, err
    assert "pip install 'tunetui[gptq]'" in err
    recipe.write_text(recipe.read_text() + "method: full\n")
    code, _, err = cli("run", str(recipe), "--detach")
    assert code == 2 and "GPTQ-quantized: its weights cannot be full-fine-tuned" in err, err


def test_fallbacks_are_named_for_the_console_dashboard_and_review(hide_packages) -> None:
    from tunetui.runner.doctor import check_fallbacks
    from tunetui.runner.recipe import Recipe
    from tunetui.runner.requirements import fallback_warnings

    hide_packages("liger_kernel", "flash_attn")
    recipe = Recipe.model_validate(
        {"model": {"attn_implementation": "flash_attention_2", "liger_kernel": True}}
    )
    on_cpu = fallback_warnings(recipe, "cpu")
    assert on_cpu == [
        "flash_attention_2 needs a CUDA GPU: training uses sdpa",
        "model.liger_kernel is on but liger-kernel is not installed: training without it",
    ]
    assert "pip install flash-attn" in fallback_warnings(recipe, "cuda")[0]
    assert check_fallbacks(recipe, "cpu").status == "warn"
    assert fallback_warnings(Recipe(), "cpu") == []


def test_the_worker_emits_fallbacks_as_warning_events_after_start(make_run, run_worker) -> None:
    run_dir = make_run(model={"attn_implementation": "flash_attention_2"})
    code, events = run_worker(run_dir)
    assert code == 0
    kinds = [e["type"] for e in events]
    warning = events[kinds.index("warning")]
    assert kinds.index("start") < kinds.index("warning")
    assert warning["message"] == "flash_attention_2 needs a CUDA GPU: training uses sdpa"


def test_fsdp_on_cpu_is_said_to_run_as_ddp() -> None:
    """accelerate shards only on GPUs: CPU processes under strategy fsdp run DDP."""
    from tunetui.runner.recipe import Recipe
    from tunetui.runner.requirements import fallback_warnings

    recipe = Recipe.model_validate({"distributed": {"strategy": "fsdp", "num_processes": 2}})
    assert fallback_warnings(recipe, "cpu") == [
        "strategy fsdp on CPU: accelerate shards only on GPUs, so every process trains a "
        "whole copy (DDP over gloo)"
    ]
    assert fallback_warnings(recipe, "cuda") == []
