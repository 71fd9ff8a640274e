"""Every shipped recipe loads, its datasets validate, and it survives a dump/load round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from tunetui.runner.data import validate_data
from tunetui.runner.recipe_io import dump_recipe, load_recipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))
EXPECTED = {
    "quickstart",
    "qlora-llama3-8b",
    "full-llama3.2-1b",
    "dpo",
    "orpo",
    "kto",
    "reward",
    "pretrain",
}


def test_all_expected_recipes_ship() -> None:
    assert {p.stem for p in RECIPES} >= EXPECTED


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_loads_and_data_validates(path: Path, tmp_path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    report = validate_data(recipe)
    assert report.total > 0 and not any("truncated" in w for w in report.warnings)
    copy = tmp_path / "copy.yaml"
    copy.write_text(dump_recipe(recipe))
    assert load_recipe(copy) == recipe


def test_quickstart_is_small_enough_for_cpu() -> None:
    recipe = load_recipe(next(p for p in RECIPES if p.stem == "quickstart"))
    assert recipe.model.name_or_path == "smollm2-135m" and recipe.method == "lora"
    assert recipe.data.max_samples is not None and recipe.data.max_samples <= 60
    assert recipe.data.cutoff_len <= 512 and recipe.training.epochs <= 3
