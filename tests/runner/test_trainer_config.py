"""Each recipe field reaches the trl/peft config the trainer is built with.

The worker's own `Worker.build_trainer` builds the trainer for a `make_run` run dir on the
tiny random model (no training). Learning rate, LoRA rank/alpha/dropout/targets, batch size,
gradient accumulation, scheduler, precision flags and gradient checkpointing are read back
from ``trainer.args`` and the peft config: a field that stops reaching trl (a rename, a
dropped key) fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from built import built_trainer
from tunetui.runner.recipe import Recipe

pytestmark = pytest.mark.filterwarnings("ignore")


def _assert_training_fields(args: Any, training: dict) -> None:
    assert args.learning_rate == pytest.approx(training["learning_rate"])
    assert args.per_device_train_batch_size == training["batch_size"]
    assert args.gradient_accumulation_steps == training["grad_accum"]
    assert args.lr_scheduler_type.value == training["lr_scheduler"]
    assert args.gradient_checkpointing is training["gradient_checkpointing"]
    assert (args.bf16, args.fp16) == (training["precision"] == "bf16", False)


LORA_CASES = {
    "sft-lora": (
        "sft",
        {"rank": 4, "alpha": 16, "dropout": 0.1, "targets": ["q_proj", "v_proj"]},
        {"q_proj", "v_proj"},
        {
            "learning_rate": 3e-4,
            "batch_size": 3,
            "grad_accum": 5,
            "lr_scheduler": "cosine",
            "precision": "bf16",
            "gradient_checkpointing": True,
        },
    ),
    "dpo-lora": (
        "dpo",
        {"rank": 8, "alpha": 8, "dropout": 0.0, "targets": "attn"},
        {"q_proj", "k_proj", "v_proj", "o_proj"},
        {
            "learning_rate": 5e-6,
            "batch_size": 2,
            "grad_accum": 4,
            "lr_scheduler": "linear",
            "precision": "fp32",
            "gradient_checkpointing": False,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(LORA_CASES))
def test_lora_recipe_reaches_trl_and_peft(case: str, make_run) -> None:
    stage, lora, modules, training = LORA_CASES[case]
    trainer = built_trainer(make_run(case, stage, "lora", lora=lora, training=training))
    _assert_training_fields(trainer.args, training)
    config = trainer.model.peft_config["default"]
    assert (config.r, config.lora_alpha) == (lora["rank"], lora["alpha"])
    assert config.lora_dropout == pytest.approx(lora["dropout"])
    assert set(config.target_modules) == modules
    assert config.use_dora is False and config.task_type == "CAUSAL_LM"
    names = [n for n, _ in trainer.model.named_parameters() if ".lora_A." in n]
    adapted = {n.split(".lora_A.")[0].rsplit(".", 1)[-1] for n in names}
    assert adapted == modules  # peft put adapters exactly there


def test_dpo_beta_reaches_the_config(make_run) -> None:
    run_dir = make_run("beta", "dpo", "lora", training={"pref_beta": 0.25})
    assert built_trainer(run_dir).args.beta == pytest.approx(0.25)


def test_full_recipe_reaches_trl_without_an_adapter(make_run) -> None:
    training = {
        "learning_rate": 1e-5,
        "batch_size": 1,
        "grad_accum": 2,
        "lr_scheduler": "constant",
        "precision": "bf16",
        "gradient_checkpointing": True,
    }
    trainer = built_trainer(make_run("full", "sft", "full", training=training))
    _assert_training_fields(trainer.args, training)
    assert not hasattr(trainer.model, "peft_config")
    assert all(p.requires_grad for p in trainer.model.parameters())


def _config_only(recipe: Recipe, tmp_path: Path, device: str, **fields: Any) -> Any:
    """`make_config` alone (no model): for what a CPU machine cannot build a trainer for."""
    from trl import SFTConfig
    from tunetui.runner.train.methods import resolve_precision
    from tunetui.runner.train.stages.common import StageContext, make_config

    ctx = StageContext(
        recipe=recipe,
        run_dir=tmp_path,
        model=None,
        tokenizer=None,
        train_dataset=None,
        eval_dataset=None,
        peft_config=None,
        precision=resolve_precision(recipe, device),
        device=device,
    )
    return make_config(SFTConfig, ctx, **fields)


def test_fp16_sets_the_fp16_flag_only(tmp_path: Path) -> None:
    recipe = Recipe.model_validate({"training": {"precision": "fp16"}})
    args = _config_only(recipe, tmp_path, "cuda")
    assert (args.fp16, args.bf16) == (True, False)


def test_a_field_trl_does_not_know_is_an_error(tmp_path: Path) -> None:
    from tunetui.runner.train.stages.common import UnknownConfigField

    with pytest.raises(UnknownConfigField, match="SFTConfig has no field no_such_field"):
        _config_only(Recipe(), tmp_path, "cpu", no_such_field=1)


def test_tensorboard_logs_go_to_the_run_dir(make_run, monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers 5 has no ``logging_dir`` field; the run dir reaches TensorBoard anyway."""
    from transformers.integrations import TensorBoardCallback

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)  # restored afterwards
    run_dir = make_run("tb", report_to=["tensorboard"])
    trainer = built_trainer(run_dir)
    board = [c for c in trainer.callback_handler.callbacks if isinstance(c, TensorBoardCallback)]
    assert [c.logging_dir for c in board] == [str(run_dir / "tensorboard")]


def test_cpu_batches_are_padded_to_the_cpu_multiple_and_gpu_ones_are_not(tmp_path: Path) -> None:
    """A bounded set of padded lengths on CPU (runner.train.hostmem, point 3); GPUs keep trl's."""
    from tunetui.runner.train.hostmem import CPU_PAD_MULTIPLE

    assert _config_only(Recipe(), tmp_path, "cpu").pad_to_multiple_of == CPU_PAD_MULTIPLE
    recipe = Recipe.model_validate({"training": {"precision": "fp16"}})
    assert _config_only(recipe, tmp_path, "cuda").pad_to_multiple_of is None


def _adapter_input_casts(trainer: Any) -> list[bool]:
    return [
        m.cast_input_dtype_enabled
        for m in trainer.model.modules()
        if hasattr(m, "cast_input_dtype_enabled")
    ]


@pytest.mark.parametrize(("precision", "casts"), [("bf16", False), ("fp32", True)])
def test_lora_adapters_share_the_autocast_input(
    precision: str, casts: bool, make_run, capsys
) -> None:
    """Under autocast the adapters read the half-precision input itself (no fp32 copy);
    without autocast peft's cast stays (it is a no-op there)."""
    trainer = built_trainer(make_run(precision, training={"precision": precision}))
    flags = _adapter_input_casts(trainer)
    assert flags and set(flags) == {casts}
    shared = "LoRA adapters share the autocast input" in capsys.readouterr().out
    assert shared is (not casts)
