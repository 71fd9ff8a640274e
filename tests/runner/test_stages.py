"""Every stage trains a tiny random model for a few steps through the real worker code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore")


def _types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


@pytest.mark.parametrize("stage", ["sft", "pt", "dpo", "kto", "orpo", "rm"])
def test_stage_trains_with_lora(stage: str, make_run, run_worker) -> None:
    run_dir = make_run(stage=stage)
    code, events = run_worker(run_dir)
    assert code == 0, events[-1]
    types = _types(events)
    assert types[0] == "start" and types[-1] == "end"
    assert types.count("log") == 3
    logs = [e for e in events if e["type"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3]
    assert all(e["loss"] is not None for e in logs)
    assert all(e["tokens_per_s"] and e["tokens_per_s"] > 0 for e in logs)
    end = events[-1]
    assert end["step"] == 3 and end["peak_kind"] == "rss" and end["peak_mem_gib"] > 0
    adapter = Path(end["output"])
    assert adapter.name == "adapter" and (adapter / "adapter_config.json").is_file()
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["task_type"] == ("SEQ_CLS" if stage == "rm" else "CAUSAL_LM")


@pytest.mark.parametrize("stage", ["sft", "dpo", "rm"])
def test_stage_trains_full(stage: str, make_run, run_worker) -> None:
    run_dir = make_run(stage=stage, method="full", training={"max_steps": 2, "save_steps": 5})
    code, events = run_worker(run_dir)
    assert code == 0, events[-1]
    assert _types(events)[-1] == "end"
    model_dir = Path(events[-1]["output"])
    assert model_dir.name == "model" and (model_dir / "model.safetensors").is_file()
    assert (model_dir / "tokenizer.json").is_file()


def test_eval_split_emits_eval_events(make_run, run_worker) -> None:
    run_dir = make_run(data={"val_size": 0.25}, training={"eval_steps": 2})
    code, events = run_worker(run_dir)
    assert code == 0
    evals = [e for e in events if e["type"] == "eval"]
    assert evals and "eval_loss" in evals[0]["metrics"]
    assert "eval_loss" in events[-1]["metrics"] and "train_loss" in events[-1]["metrics"]
