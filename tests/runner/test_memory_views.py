"""The first step's `memory` event (and `warning` events) in every run view: the one fold
(`RunProgress`), the console's lines and `tunetui runs` (issue 13 §2)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from tunetui.runner.consoleview import ConsoleView
from tunetui.runner.progress import RunProgress

START = {"v": 1, "t": 1.0, "type": "start", "run": "demo", "total_steps": 10}
MEMORY = {"v": 1, "t": 2.0, "type": "memory", "step": 1, "planned_gib": 20.93,
          "measured_gib": 19.81, "kind": "nvml_used"}  # fmt: skip
WARNING = {"v": 1, "t": 3.0, "type": "warning", "message": "out of memory at batch 8: retrying"}


def test_the_fold_words_measured_vs_planned_and_keeps_warnings() -> None:
    progress = RunProgress()
    assert progress.memory_text == ""  # nothing measured yet: nothing to show
    progress.apply_all([START, MEMORY, WARNING])
    assert progress.memory_text == "planned 20.9 GiB, measured 19.8 GiB"
    assert progress.warnings == ["out of memory at batch 8: retrying"]
    progress.apply({**MEMORY, "planned_gib": None})  # a run without a plan
    assert progress.memory_text == "measured 19.8 GiB"


def test_console_prints_the_memory_and_warning_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    view = ConsoleView(tmp_path, out, log_interval=10)
    for event in (START, MEMORY, WARNING):
        view.handle(event)
    lines = out.getvalue().splitlines()
    assert "memory after step 1: planned 20.9 GiB, measured 19.8 GiB" in lines
    assert "warning: out of memory at batch 8: retrying" in lines


def test_runs_shows_measured_vs_planned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunetui.runner import rundir
    from typer.testing import CliRunner

    from tunetui.cli import app

    monkeypatch.setenv(rundir.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(rundir.STATE_ENV, str(tmp_path / "state"))
    run_dir = tmp_path / "runs" / "demo"
    run_dir.mkdir(parents=True)
    end = {"v": 1, "t": 4.0, "type": "end", "step": 10}
    lines = [json.dumps(e) for e in (START, MEMORY, end)]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    table = CliRunner().invoke(app, ["runs"])
    assert table.exit_code == 0, table.output
    assert "demo memory: planned 20.9 GiB, measured 19.8 GiB" in table.output
    (row,) = json.loads(CliRunner().invoke(app, ["runs", "--json"]).output)
    assert row["planned_gib"] == 20.93 and row["measured_gib"] == 19.81
