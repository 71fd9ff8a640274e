"""bench/plan_accuracy.py on its published rows: the accuracy the README states holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import plan_accuracy  # noqa: E402

# Llama-2-70B QLoRA on 2 GPUs (fms-acceleration) keeps ~1.2 MB/token more than on one GPU,
# with bitsandbytes and with GPTQ alike, while Mistral-7B and Mixtral on 2 GPUs do not:
# nothing the planner models explains it. Answer.AI's 24 GB runs hold far less allocator
# waste than the A100 runs the fragmentation constants come from (planner/README.md
# "Accuracy").
UNEXPLAINED = (
    "Llama-2-70B QLoRA on 2 GPUs: -18%, its batch-4 OOM is 'fits'; Answer.AI's 24 GB "
    "reserved rows up to +35% (README 'Accuracy')"
)


def _run(capsys) -> dict:
    assert plan_accuracy.main(["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _rows() -> dict[str, dict]:
    data = json.loads((ROOT / "bench" / "memory_reference.json").read_text())
    return {r["id"]: r for r in data["rows"]}


def test_held_out_rows_stay_within_today_s_bounds(capsys) -> None:
    """A regression guard at today's figures (README "Accuracy"); the issue's targets are
    the strict xfail below."""
    out = _run(capsys)
    held = out["summary"]["held-out"]
    assert held["rows"] >= 150
    assert held["mean_abs_error_pct"] <= 6.5
    assert held["max_abs_error_pct"] <= 35.0 and held["worst_under_pct"] >= -24.0
    allocated = [r for r in out["results"] if r["supported"] and not r["calibration"]
                 and r["metric"] == "allocated_gib"]  # fmt: skip
    assert len(allocated) >= 50
    assert sum(abs(r["error_pct"]) for r in allocated) / len(allocated) <= 5.0
    assert out["summary"]["calibrated"]["mean_abs_error_pct"] <= 5.0
    assert len(out["summary"]["ooms_called_fits"]) <= 1


@pytest.mark.xfail(strict=True, reason=UNEXPLAINED)
def test_held_out_rows_meet_the_issue_targets(capsys) -> None:
    held = _run(capsys)["summary"]["held-out"]
    assert held["mean_abs_error_pct"] <= 5.0
    assert held["max_abs_error_pct"] <= 10.0 and held["worst_under_pct"] >= -5.0


@pytest.mark.xfail(strict=True, reason=UNEXPLAINED)
def test_no_published_oom_is_called_fits(capsys) -> None:
    result = _run(capsys)
    assert result["ooms"] and result["summary"]["ooms_called_fits"] == []


def test_sharded_qlora_rows_are_not_upcast_as_trl_skips_kbit_preparation() -> None:
    """trl's SFTTrainer does not call prepare_model_for_kbit_training when the 4-bit
    weights sit on cpu/meta (QLoRA under multi-process FSDP); on one GPU it does."""
    rows, job = _rows(), "fms-a100-mistral-7b-v0.1-qlora-baseline-peft-bnb"
    one = plan_accuracy.train_config(rows[f"{job}-g1-bs4"])
    two = plan_accuracy.train_config(rows[f"{job}-g2-bs4"])
    assert one.upcast_non_quantized is True and two.upcast_non_quantized is False


def test_rows_with_a_published_config_never_look_the_model_up(monkeypatch) -> None:
    """The row's own config.json is the model (no Hub request for an id the catalog lacks)."""

    def offline(*_args, **_kwargs):
        raise AssertionError("resolve_model called")

    monkeypatch.setattr(plan_accuracy, "resolve_model", offline)
    rows = [r for r in _rows().values() if r.get("model_config")]
    assert len(plan_accuracy.evaluate(rows)) == len(rows) >= 40
