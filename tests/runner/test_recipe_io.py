"""Recipe files: round trip, atomic save, and one-line errors with close matches."""

from __future__ import annotations

from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.recipe import Recipe
from tunetui.runner.recipe_io import dump_recipe, load_recipe, save_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_recipe(path)
    line = info.value.line()
    assert "\n" not in line
    return line


def test_round_trip(tmp_path: Path) -> None:
    recipe = Recipe(name="x", stage="dpo", method="qlora")
    recipe.training.learning_rate = 5e-6
    recipe.data.datasets = ["dpo_demo"]
    path = save_recipe(recipe, tmp_path / "r.yaml")
    assert load_recipe(path) == recipe


def test_dump_is_stable_and_ordered() -> None:
    text = dump_recipe(Recipe())
    assert text == dump_recipe(Recipe())
    keys = [ln.split(":")[0] for ln in text.splitlines() if ln and ln[0] not in "# -"]
    assert keys[:3] == ["name", "stage", "method"]


def test_save_refuses_overwrite(tmp_path: Path) -> None:
    path = save_recipe(Recipe(), tmp_path / "r.yaml")
    with pytest.raises(UserError, match="already exists.*--overwrite"):
        save_recipe(Recipe(name="other"), path)
    assert load_recipe(path).name == "run"
    save_recipe(Recipe(name="other"), path, overwrite=True)
    assert load_recipe(path).name == "other"
    assert [p.name for p in tmp_path.iterdir()] == ["r.yaml"]  # no temp files left


def test_typo_key_suggests(tmp_path: Path) -> None:
    line = _error(tmp_path, "training:\n  learnig_rate: 0.001\n")
    assert line == (
        "recipe.yaml: unknown key 'training.learnig_rate'. Did you mean 'training.learning_rate'?"
    )


def test_top_level_typo(tmp_path: Path) -> None:
    assert "Did you mean 'training'?" in _error(tmp_path, "trainig:\n  epochs: 1\n")


def test_bad_literal_suggests(tmp_path: Path) -> None:
    line = _error(tmp_path, "stage: sfft\n")
    assert "stage='sfft'" in line and "Did you mean 'sft'?" in line


def test_bad_number_names_key_and_value(tmp_path: Path) -> None:
    line = _error(tmp_path, "training:\n  epochs: abc\n")
    assert "training.epochs='abc'" in line


def test_list_item_error(tmp_path: Path) -> None:
    assert "report_to[0]='wandbb'" in _error(tmp_path, "report_to: [wandbb]\n")


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    assert "line 2: YAML syntax error" in _error(tmp_path, "name: x\nstage: sft: dpo\n")


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "must be a YAML mapping" in _error(tmp_path, "- 1\n- 2\n")


def test_llamafactory_yaml_points_to_import(tmp_path: Path) -> None:
    assert "tunetui import-lf" in _error(tmp_path, "model_name_or_path: x\nstage: sft\n")


def test_cross_field_error(tmp_path: Path) -> None:
    assert "quantization.bits=4 needs method: qlora" in _error(
        tmp_path, "method: lora\nquantization:\n  bits: 4\n"
    )


def test_missing_file_suggests_close_name(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text("name: x\n")
    with pytest.raises(UserError, match="Did you mean 'recipe.yaml'"):
        load_recipe(tmp_path / "recipe.yml")


def test_empty_file_is_refused_not_a_default_run(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("")
    with pytest.raises(UserError, match="r.yaml is empty"):
        load_recipe(path)
    path.write_text("{}\n")  # an explicit empty mapping: every default, on purpose
    assert load_recipe(path) == Recipe()


def test_comma_strings_become_lists(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("data:\n  datasets: identity, sharegpt_demo\nreport_to: tensorboard\n")
    recipe = load_recipe(path)
    assert recipe.data.datasets == ["identity", "sharegpt_demo"]
    assert recipe.report_to == ["tensorboard"]


def test_top_level_key_of_a_section_suggests_the_section(tmp_path: Path) -> None:
    line = _error(tmp_path, "epochs: 3\n")
    assert line.startswith("recipe.yaml: unknown key 'epochs'. Did you mean 'training.epochs'?")
    assert "Did you mean 'data.cutoff_len'?" in _error(tmp_path, "cutoff_len: 512\n")


def test_folder_is_not_a_recipe(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("name: x\n")
    with pytest.raises(UserError) as info:
        load_recipe(tmp_path)
    assert info.value.problem == f"'{tmp_path}' is a folder, not a recipe file"
    assert str(tmp_path / "mine.yaml") in info.value.fix
