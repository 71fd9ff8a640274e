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
    handled_elsewhere |= {"pref_loss", "quantization_method", "num_train_epochs"}
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
        convert({"model": "Qwen/Qwen3-4B", "peft_config": {"name": "freeze"}})
    with pytest.raises(UserError, match="not found"):
        import_lf(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match="stage 'ppo' is not supported"):
        convert({"model_name_or_path": "m", "stage": "ppo"})
