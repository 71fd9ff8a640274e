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
    monkeypatch.setenv(rundir.STATE_ENV, str(tmp_path / "state"))  # not the user's index
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


def _staged_run(folder: Path) -> Path:
    """A run made the way the launcher makes one (`staged_run_dir` indexes it)."""
    with rundir.staged_run_dir(folder) as stage:
        (stage / rundir.RECIPE_FILE).write_text("name: x\n")
    return folder.absolute()


def test_runs_are_found_by_name_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _staged_run(tmp_path / "project" / "runs" / "wizrun")
    monkeypatch.chdir(tmp_path)  # another folder, with no runs/ of its own
    monkeypatch.delenv(rundir.RUNS_ENV)
    assert rundir.find_run("wizrun") == made
    assert rundir.find_run("wiz") == made  # a unique prefix, as for local runs
    assert rundir.find_run(None) == made  # the latest run, wherever it is
    assert rundir.all_run_dirs() == [made]
    index = rundir.read_json(tmp_path / "state" / rundir.INDEX_FILE)
    assert index == {"runs": [str(made)]}


def test_the_index_lives_in_the_xdg_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rundir.STATE_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", "/x/state")
    assert rundir.state_dir() == Path("/x/state/tunetui")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", "/home/ada")
    assert rundir.state_dir() == Path("/home/ada/.local/state/tunetui")


def test_entries_whose_folder_is_gone_are_dropped(tmp_path: Path) -> None:
    import shutil

    kept = _staged_run(tmp_path / "a" / "kept")
    gone = _staged_run(tmp_path / "b" / "gone")
    shutil.rmtree(gone)
    assert rundir.indexed_runs() == [kept]
    index = rundir.read_json(tmp_path / "state" / rundir.INDEX_FILE)
    assert index == {"runs": [str(kept)]}  # written back without it
    with pytest.raises(UserError, match="unknown run 'gone'"):
        rundir.find_run("gone")


def test_a_name_in_two_folders_asks_for_the_folder(tmp_path: Path) -> None:
    first = _staged_run(tmp_path / "p1" / "demo")
    _staged_run(tmp_path / "p2" / "demo")
    with pytest.raises(UserError, match="run 'demo' is in 2 folders") as err:
        rundir.find_run("demo")
    assert str(first.parent) in str(err.value)
    local = _make_run(rundir.runs_root(), "demo")
    assert rundir.find_run("demo") == local  # the current folder's run comes first


def test_an_unwritable_state_dir_does_not_stop_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(rundir.STATE_ENV, str(blocker / "state"))  # under a file: no mkdir
    made = _staged_run(tmp_path / "runs" / "still-made")
    assert rundir.is_run_dir(made) and rundir.indexed_runs() == []


def test_replace_folder_gives_outputs_the_users_modes(tmp_path) -> None:
    """Exports and adapters were 0700/0600 (temp folders); an HF save is 0755/0644."""
    import os
    import stat
    import tempfile

    old = os.umask(0o022)
    try:
        tmp = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as every staging folder
        weights = tmp / "model.safetensors"
        weights.write_bytes(b"x")
        os.chmod(weights, 0o600)
        final = tmp_path / "merged"
        final.mkdir()
        (final / "old.txt").write_text("old")
        assert rundir.replace_folder(tmp, final) == final
    finally:
        os.umask(old)
    assert stat.S_IMODE(final.stat().st_mode) == 0o755
    assert stat.S_IMODE((final / "model.safetensors").stat().st_mode) == 0o644
    assert not (final / "old.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["merged"]  # nothing half left
