"""Run directories: naming, no overwrite without asking, atomic assembly, finding runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner import rundir


@pytest.fixture(autouse=True)
def runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv(rundir.RUNS_ENV, str(root))
    return root


def _make_run(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / rundir.RECIPE_FILE).write_text("name: x\n")
    return path


def test_runs_root_follows_env(runs_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert rundir.runs_root() == runs_root
    monkeypatch.delenv(rundir.RUNS_ENV)
    assert rundir.runs_root() == Path("runs")


def test_recipe_name_gets_timestamp_suffix_when_taken(runs_root: Path) -> None:
    assert rundir.choose_run_path("sft") == runs_root / "sft"
    _make_run(runs_root, "sft")
    second = rundir.choose_run_path("sft", overwrite=False)
    assert second.name.startswith("sft-") and not second.exists()
    second.mkdir()
    third = rundir.unique_run_path(runs_root, "sft", now=os.path.getmtime(second))
    assert third != second and not third.exists()


def test_explicit_name_and_output_refuse_existing(runs_root: Path, tmp_path: Path) -> None:
    _make_run(runs_root, "mine")
    with pytest.raises(UserError, match="already exists.*--overwrite"):
        rundir.choose_run_path("sft", name="mine")
    assert rundir.choose_run_path("sft", name="mine", overwrite=True) == runs_root / "mine"
    out = tmp_path / "out"
    out.mkdir()
    assert rundir.choose_run_path("sft", output=out) == out  # empty folder is fine
    (out / "f").write_text("x")
    with pytest.raises(UserError, match="output folder"):
        rundir.choose_run_path("sft", output=out)
    with pytest.raises(UserError, match="invalid run name"):
        rundir.choose_run_path("sft", name="../escape")


def test_staged_run_dir_is_all_or_nothing(runs_root: Path) -> None:
    final = runs_root / "r"
    with pytest.raises(RuntimeError), rundir.staged_run_dir(final) as stage:
        (stage / "recipe.yaml").write_text("x")
        raise RuntimeError("boom while writing")
    assert not final.exists()
    assert list(runs_root.iterdir()) == []  # no staging leftovers
    with rundir.staged_run_dir(final) as stage:
        (stage / "recipe.yaml").write_text("new")
    assert (final / "recipe.yaml").read_text() == "new"
    with rundir.staged_run_dir(final, overwrite=True) as stage:
        (stage / "recipe.yaml").write_text("newer")
    assert (final / "recipe.yaml").read_text() == "newer"
    assert [p.name for p in runs_root.iterdir()] == ["r"]


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "run.json"
    rundir.write_json(path, {"pid": 1})
    rundir.write_json(path, {"pid": 2})
    assert rundir.read_json(path) == {"pid": 2}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]
    assert rundir.read_json(tmp_path / "missing.json") == {}


def test_find_run_by_name_path_prefix_and_latest(runs_root: Path) -> None:
    a = _make_run(runs_root, "alpha-20260101-000000")
    b = _make_run(runs_root, "beta")
    rundir.write_json(a / rundir.RUN_FILE, {"started": 100.0})
    rundir.write_json(b / rundir.RUN_FILE, {"started": 200.0})
    assert rundir.find_run("beta") == b
    assert rundir.find_run(str(a)) == a
    assert rundir.find_run("alpha") == a  # unique prefix
    assert rundir.find_run(None) == b  # latest started
    assert rundir.list_run_dirs() == [a, b]
    # alpha resumed after beta started: it is the latest attempt, still listed first
    rundir.write_json(a / rundir.RUN_FILE, {"first_started": 100.0, "started": 300.0})
    assert rundir.find_run(None) == a and rundir.list_run_dirs() == [a, b]
    with pytest.raises(UserError, match="unknown run 'bta'. Did you mean 'beta'"):
        rundir.find_run("bta")


def test_find_run_without_runs_says_how_to_start(runs_root: Path) -> None:
    with pytest.raises(UserError, match="no runs in"):
        rundir.find_run(None)
