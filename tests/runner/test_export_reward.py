"""Exporting a reward model keeps its trained ``score`` head: the exported model scores
exactly as the run's base + adapter does."""

from __future__ import annotations

import json

import pytest


def test_exported_reward_model_gives_the_runs_scores(make_run, run_worker, tmp_path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from tunetui.runner.infer.export import export

    run_dir = make_run(stage="rm", training={"max_steps": 2})
    code, _ = run_worker(run_dir)
    assert code == 0
    adapter = run_dir / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["task_type"] == "SEQ_CLS"
    result = export(str(run_dir), output=str(tmp_path / "merged"))
    merged_dir = tmp_path / "merged"
    assert json.loads((merged_dir / "config.json").read_text())["architectures"][0].endswith(
        "ForSequenceClassification"
    )
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    texts = ["a helpful, correct answer", "nonsense nonsense nonsense"]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    merged = AutoModelForSequenceClassification.from_pretrained(merged_dir, dtype=torch.float32)
    base = AutoModelForSequenceClassification.from_pretrained(
        result.base, num_labels=1, pad_token_id=tokenizer.pad_token_id, dtype=torch.float32
    )
    reference = PeftModel.from_pretrained(base, adapter)
    with torch.no_grad():
        got = merged(**batch).logits.squeeze(-1)
        want = reference(**batch).logits.squeeze(-1)
    assert got.shape == (2,)
    assert torch.allclose(got, want, atol=1e-4), (got, want)
    assert not torch.allclose(want, torch.zeros_like(want))  # a trained head, not zeros


pytestmark = pytest.mark.filterwarnings("ignore")
