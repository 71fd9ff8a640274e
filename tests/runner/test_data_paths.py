"""Dataset paths: a missing file says so, and relative paths start at the recipe's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from _data_fixtures import recipe, write_json, write_jsonl
from tunetui.planner.errors import UserError
from tunetui.runner.data import validate_data
from tunetui.runner.recipe_io import load_recipe

ROWS = [{"instruction": "Say hi", "input": "", "output": "Hi!"}]


def _recipe_file(folder: Path, data_yaml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(f"name: r\ndata:\n{data_yaml}", encoding="utf-8")
    return path


def test_missing_absolute_path_is_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "x" / "nope.json"
    with pytest.raises(UserError) as info:
        validate_data(recipe("sft", [str(missing)]))
    assert info.value.problem == f"dataset file '{missing}' not found"


def test_missing_relative_path_names_where_it_looked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"dataset file 'data/nope.jsonl' not found \(looked in"):
        validate_data(recipe("sft", ["data/nope.jsonl"]))


def test_registry_typo_still_suggests_a_name() -> None:
    with pytest.raises(UserError, match="unknown dataset 'identiy'. Did you mean 'identity'"):
        validate_data(recipe("sft", ["identiy"]))


def test_relative_data_file_is_found_beside_the_recipe(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_json(project / "data" / "rows.json", ROWS)
    path = _recipe_file(project, "  datasets: [data/rows.json, identity]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_recipe(path)
    assert loaded.data.datasets == [str(project / "data" / "rows.json"), "identity"]
    assert validate_data(loaded).datasets[0].records == 1


def test_relative_dataset_dir_is_found_beside_the_recipe(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    (project / "lf").mkdir(parents=True)
    write_json(project / "lf" / "rows.json", ROWS)
    write_json(project / "lf" / "dataset_info.json", {"mine": {"file_name": "rows.json"}})
    path = _recipe_file(project, "  datasets: [mine]\n  dataset_dir: lf\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe(path)
    assert loaded.data.dataset_dir == str(project / "lf")
    assert validate_data(loaded).datasets[0].records == 1


def test_current_folder_is_the_fallback(tmp_path: Path, monkeypatch) -> None:
    write_jsonl(tmp_path / "rows.jsonl", ROWS)
    path = _recipe_file(tmp_path / "recipes", "  datasets: [rows.jsonl]\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe(path)
    assert loaded.data.datasets == ["rows.jsonl"]
    assert validate_data(loaded).datasets[0].records == 1


def test_missing_relative_path_names_the_recipe_folder(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    path = _recipe_file(project, "  datasets: [data/nope.jsonl]\n  dataset_dir: gone\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=f"'{project / 'gone'}' is not a folder"):
        validate_data(load_recipe(path))
    path = _recipe_file(project, "  datasets: [data/nope.jsonl]\n")
    with pytest.raises(UserError) as info:
        validate_data(load_recipe(path))
    assert info.value.problem == f"dataset file '{project / 'data' / 'nope.jsonl'}' not found"
