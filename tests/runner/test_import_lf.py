"""import-lf: every shipped LLaMA-Factory train_* example converts; unmappable keys warn."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _data_fixtures import LF_DATA
from tunetui.planner.errors import UserError
from tunetui.runner.lf_import import convert, import_lf

EXAMPLES = sorted((LF_DATA / "examples").glob("train_*.yaml"))

# What each shipped example must become: (method, precision).
EXPECTED = {
    "train_full_qwen3_full_sft": ("full", "bf16"),
    "train_lora_qwen3_lora_dpo": ("lora", "bf16"),
    "train_lora_qwen3_lora_pretrain": ("lora", "bf16"),
    "train_lora_qwen3_lora_sft": ("lora", "bf16"),
    "train_qlora_qwen3_lora_sft_otfq": ("qlora", "bf16"),
    "train_lora_qwen3_lora_kto": ("lora", "bf16"),
    "train_lora_qwen3_lora_reward": ("lora", "bf16"),
    # LoRA on pre-quantized bases: lora, with a warning that the base is quantized
    "train_qlora_llama3_lora_sft_aqlm": ("lora", "bf16"),
    "train_qlora_llama3_lora_sft_awq": ("lora", "bf16"),
    "train_qlora_llama3_lora_sft_gptq": ("lora", "bf16"),
}


def test_the_fixture_holds_every_expected_example() -> None:
    assert [p.stem for p in EXAMPLES] == sorted(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_train_example_converts(path: Path) -> None:
    lf = yaml.safe_load(path.read_text())
    result = import_lf(path, dataset_dir=str(LF_DATA))
    recipe = result.recipe
    assert recipe.model.name_or_path == lf["model_name_or_path"]
    assert recipe.stage == lf["stage"]
    assert recipe.training.learning_rate == pytest.approx(float(lf["learning_rate"]))
    assert recipe.training.batch_size == lf["per_device_train_batch_size"]
    assert recipe.training.grad_accum == lf["gradient_accumulation_steps"]
    assert recipe.data.datasets == lf["dataset"].split(",")
    assert recipe.data.cutoff_len == lf["cutoff_len"]
    assert (recipe.method, recipe.training.precision) == EXPECTED[path.stem]
    # every key is accounted for: mapped, warned about, or a known runtime knob
    seen = set(result.mapped) | set(result.ignored) | {w.split(":")[0] for w in result.warnings}
    handled_elsewhere = {"stage", "finetuning_type", "quantization_bit", "lora_target", "dataset"}
    handled_elsewhere |= {"template", "bf16", "lr_scheduler_type", "report_to", "max_steps"}
    handled_elsewhere |= {"pref_loss", "quantization_method", "num_train_epochs", "do_train"}
    assert set(lf) - seen - handled_elsewhere == set()


def test_qlora_example_keeps_its_quantization_bits() -> None:
    path = LF_DATA / "examples" / "train_qlora_qwen3_lora_sft_otfq.yaml"
    assert yaml.safe_load(path.read_text())["quantization_bit"] == 4
    recipe = import_lf(path, dataset_dir=str(LF_DATA)).recipe
    assert (recipe.method, recipe.quantization.bits) == ("qlora", 4)
    eight = convert({"model_name_or_path": "m", "finetuning_type": "lora", "quantization_bit": 8})
    assert eight.recipe.quantization.bits == 8  # read from the file, not the default


def test_converted_recipes_validate_against_lf_data() -> None:
    from tunetui.runner.data import validate_data

    for path in EXAMPLES:
        result = import_lf(path, dataset_dir=str(LF_DATA))
        assert not any(w.startswith("dataset:") for w in result.warnings)
        assert validate_data(result.recipe).total > 0


def test_galore_example_warns_per_key() -> None:
    result = import_lf(LF_DATA / "examples" / "extras_galore_llama3_full_sft.yaml")
    assert result.recipe.training.optimizer == "galore"
    keys = [w.split(":")[0] for w in result.warnings]
    for key in ("galore_rank", "galore_scale", "galore_layerwise", "galore_target"):
        assert keys.count(key) == 1
    assert any("alpaca_en_demo not in the shipped demo data" in w for w in result.warnings)


def test_unknown_keys_warn_once_each() -> None:
    lf = {
        "model_name_or_path": "m",
        "stage": "sft",
        "finetuning_type": "lora",
        "use_dora": True,
        "lora_target": "q_proj,v_proj",
        "template": "qwen3_nothink",
        "neftune_noise_alpha": 5,
        "deepspeed": "ds.json",
        "report_to": "swanlab",
        "output_dir": "saves/my run",
    }
    result = convert(lf)
    assert result.recipe.method == "dora"
    assert result.recipe.lora.targets == ["q_proj", "v_proj"]
    assert result.recipe.data.template == "qwen"
    assert result.recipe.name == "my-run"
    keys = [w.split(":")[0] for w in result.warnings]
    assert sorted(keys) == ["deepspeed", "neftune_noise_alpha", "report_to"]


def test_orpo_via_pref_loss() -> None:
    lf = {"model_name_or_path": "m", "stage": "dpo", "pref_loss": "orpo", "pref_beta": 0.2}
    recipe = convert(lf).recipe
    assert recipe.stage == "orpo" and recipe.training.pref_beta == 0.2


def test_not_a_training_yaml(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="export/merge config"):
        convert({"model_name_or_path": "m", "export_dir": "x"})
    with pytest.raises(UserError, match="no model_name_or_path"):
        convert({"stage": "sft", "dataset": "identity"})
    with pytest.raises(UserError, match="not found"):
        import_lf(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match="stage 'ppo' is not supported"):
        convert({"model_name_or_path": "m", "stage": "ppo"})


def _example(stem: str):
    return import_lf(LF_DATA / "examples" / f"{stem}.yaml", dataset_dir=str(LF_DATA))


def _warned(result, key: str) -> str:
    """The warning about `key` (exactly one)."""
    found = [w for w in result.warnings if w.startswith(f"{key}:")]
    assert len(found) == 1, result.warnings
    return found[0]


def test_quantization_bit_on_a_non_lora_method_is_never_dropped_silently() -> None:
    oft = _example("extras_qoft_llama3_oft_sft_bnb_npu")  # OFT on a 4-bit base
    assert (oft.recipe.method, oft.recipe.quantization.bits) == ("qlora", 4)
    assert "'oft' is not supported; converted to lora" in _warned(oft, "finetuning_type")
    full = convert({"model_name_or_path": "m", "finetuning_type": "full", "quantization_bit": 4})
    assert full.recipe.method == "full"
    assert "16-bit model" in _warned(full, "quantization_bit")


@pytest.mark.parametrize("scheme", ["aqlm", "awq", "gptq"])
def test_a_pre_quantized_base_says_it_is_quantized(scheme: str) -> None:
    result = _example(f"train_qlora_llama3_lora_sft_{scheme}")
    line = _warned(result, "model_name_or_path")
    assert f"pre-quantized ({scheme.upper()})" in line
    awq_oft = _example("extras_qoft_llama3_oft_sft_awq")
    assert "pre-quantized (AWQ)" in _warned(awq_oft, "model_name_or_path")


def test_a_predict_only_recipe_is_refused_not_turned_into_training() -> None:
    with pytest.raises(UserError, match="prediction/evaluation config"):
        _example("extras_nlg_eval_llama3_lora_predict")


def test_gradient_checkpointing_is_on_unless_disabled_as_in_llamafactory() -> None:
    assert _example("train_lora_qwen3_lora_sft").recipe.training.gradient_checkpointing
    off = convert({"model_name_or_path": "m", "disable_gradient_checkpointing": True})
    assert not off.recipe.training.gradient_checkpointing
    assert "disable_gradient_checkpointing" in off.mapped


def test_keys_left_out_get_llamafactorys_defaults_not_tunetuis() -> None:
    training = convert({"model_name_or_path": "m", "lora_rank": 16}).recipe.training
    assert (training.epochs, training.batch_size, training.grad_accum) == (3.0, 8, 1)
    assert training.lr_scheduler == "linear" and training.learning_rate == 5e-5
    lora = convert({"model_name_or_path": "m", "lora_rank": 16}).recipe.lora
    assert (lora.alpha, lora.dropout) == (32, 0.0)


def test_v1_lora_recipe_converts_with_its_datasets() -> None:
    result = _example("v1_train_lora_train_lora_sft")
    r = result.recipe
    assert (r.model.name_or_path, r.stage, r.method) == ("Qwen/Qwen3-4B", "sft", "lora")
    assert (r.lora.rank, r.lora.alpha, r.lora.dropout, r.lora.targets) == (16, 32, 0.05, "all")
    assert (r.training.batch_size, r.training.grad_accum, r.training.max_steps) == (1, 1, 10)
    assert r.data.cutoff_len == 2048 and r.training.learning_rate == 1e-4
    assert r.training.gradient_checkpointing  # v1's enable_activation_checkpointing default
    assert [Path(d).name for d in r.data.datasets] == ["identity.json", "alpaca_en_demo.json"]
    for key in ("model_class", "kernel_config", "dist_config", "sample_backend"):
        assert "not converted" in _warned(result, key)
    assert not any(w.startswith("dataset:") for w in result.warnings)


def test_v1_freeze_qlora_and_dpo_recipes_convert() -> None:
    freeze = _example("v1_train_freeze_train_freeze_sft").recipe
    assert (freeze.method, freeze.freeze.trainable_layers) == ("freeze", 2)
    qlora = _example("v1_train_qlora_quantization").recipe
    assert (qlora.method, qlora.quantization.bits) == ("qlora", 4)
    dpo = _example("v1_train_lora_train_lora_dpo")
    assert dpo.recipe.stage == "dpo"
    assert "not converted" in _warned(dpo, "train_dataset")  # its demo lives on the hub
    full = _example("v1_train_full_train_full_deepspeed").recipe
    assert full.method == "full"


def test_dash_output_prints_the_recipe(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = LF_DATA / "examples" / "train_lora_qwen3_lora_sft.yaml"
    code, out, err = cli("import-lf", str(path), "-o", "-", "--dataset-dir", str(LF_DATA))
    assert code == 0, err
    assert "model:" in out and "name_or_path: Qwen/Qwen3-4B-Instruct-2507" in out
    assert not (tmp_path / "-").exists()
