"""bench/plan_accuracy.py on its published rows: the accuracy the README states holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import plan_accuracy  # noqa: E402


def _run(capsys) -> dict:
    assert plan_accuracy.main(["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_held_out_rows_meet_the_mean_and_max_targets(capsys) -> None:
    out = _run(capsys)["summary"]
    held = out["held-out"]
    assert held["rows"] >= 20
    assert held["mean_abs_error_pct"] <= 5.0 and held["max_abs_error_pct"] <= 10.0
    # the issue's -5% is not met yet (FSDP-2 LoRA allocated, -7.5%: README "Accuracy")
    assert held["worst_under_pct"] >= -8.0
    assert out["calibrated"]["max_abs_error_pct"] <= 10.0


def test_no_published_oom_is_called_fits(capsys) -> None:
    result = _run(capsys)
    assert result["ooms"] and result["summary"]["ooms_called_fits"] == []
