"""`eval --metrics accuracy` (classification and multiple choice, as LLaMA-Factory counts it)
and the warning when the eval data is the run's own training data."""

from __future__ import annotations

from pathlib import Path

import pytest
from tunetui.runner.infer.evaluate import accuracy, parse_metrics, training_data_warning
from tunetui.runner.infer.target import Target


def test_accuracy_counts_choices_by_letter_and_labels_by_word() -> None:
    hyps = ["B", "(c) the third", "A. Paris", "positive", " Negative. ", "neutral-ish"]
    refs = ["B", "C", "B.", "positive", "negative", "neutral"]
    assert accuracy(hyps, refs) == pytest.approx(100 * 4 / 6)
    assert parse_metrics("ppl,accuracy") == ["ppl", "accuracy"]


def test_eval_on_the_training_data_warns(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text("data:\n  datasets: [identity]\n")
    target = Target(base=tmp_path, run_dir=run)
    (warning,) = training_data_warning(target, "identity")
    assert "'identity' is this run's training data" in warning and "memorisation" in warning
    assert training_data_warning(target, "alpaca_en_demo") == []
    assert training_data_warning(Target(base=tmp_path), "identity") == []
