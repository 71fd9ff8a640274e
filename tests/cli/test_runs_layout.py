"""`tunetui runs` shows each run's strategy and GPU count (issue 14), from the attempt's
`start` event, or from its recipe before the worker has started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tunetui.runner import rundir

T0 = 1_700_000_000.0


def _run(root: Path, name: str, start: dict | None = None, recipe: str | None = None) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    if start is not None:
        event = {"v": 1, "t": T0, "type": "start", "run": name, "total_steps": 10, **start}
        end = {"v": 1, "t": T0 + 5, "type": "end", "step": 10}
        lines = [json.dumps(event), json.dumps(end)]
        (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    if recipe is not None:
        (folder / "recipe.yaml").write_text(recipe)


@pytest.fixture
def runs_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.chdir(tmp_path)  # the folder column: "runs"
    monkeypatch.setenv(rundir.RUNS_ENV, str(root))
    monkeypatch.setenv(rundir.STATE_ENV, str(tmp_path / "state"))
    one = {"strategy": "zero3", "world_size": 8, "num_machines": 1}
    two = {"strategy": "ddp", "world_size": 16, "num_machines": 2}
    _run(root, "sharded", {"device": "cuda", "distributed": one})
    _run(root, "two-nodes", {"device": "cuda", "distributed": two})
    _run(root, "single", {"device": "cuda"})
    _run(root, "on-cpu", {"device": "cpu"})
    _run(root, "launching", recipe="name: launching\ndistributed:\n  strategy: fsdp\n"
         "  num_processes: 4\n")  # fmt: skip
    _run(root, "old-recipe", recipe="name: old-recipe\n")
    return root


def test_runs_json_has_strategy_and_gpu_count_under_option_names(cli, runs_root) -> None:
    code, out, err = cli("runs", "--json")
    assert code == 0, err
    rows = {r["name"]: (r["parallel"], r["gpus"], r["num_machines"]) for r in json.loads(out)}
    assert rows == {
        "sharded": ("zero3", 8, 1),
        "two-nodes": ("ddp", 16, 2),
        "single": ("none", 1, 1),
        "on-cpu": ("none", 0, 1),
        "launching": ("fsdp", 4, 1),
        "old-recipe": ("none", 1, 1),
    }


def test_runs_table_shows_strategy_and_gpu_count(cli, runs_root) -> None:
    code, out, err = cli("runs")
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "zero3 x8" in lines["sharded"] and "ddp 2x8" in lines["two-nodes"]
    assert "fsdp x4" in lines["launching"]
    assert lines["on-cpu"].split()[2] == "cpu" and lines["single"].split()[2] == "1"
