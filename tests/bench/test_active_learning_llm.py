"""bench/active_learning_llm.py: its report section and its learning setup, without torch."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import active_learning_llm as bench  # noqa: E402
from tunetui.runner.al.simulate import Curve  # noqa: E402


def _curves(strategy_values: dict[str, list[float]], seeds: int = 3) -> list[Curve]:
    return [
        Curve(s, seed, [8, 16, 24], [{"macro_f1": v, "accuracy": v} for v in values])
        for s, values in strategy_values.items()
        for seed in range(seeds)
    ]


def _meta(targets: dict[str, float]) -> dict:
    return {
        "elapsed": 600.0, "date": "2026-12-02", "pool": 100, "test": 50, "seed_size": 8,
        "k": 8, "rounds": 2, "budget": 24, "seeds": 3, "targets": targets, "cuts": "nothing",
        "zero_shot_macro_f1": 0.436,
    }  # fmt: skip


def test_write_section_replaces_the_llm_section_and_keeps_the_proxy_report(tmp_path) -> None:
    md = tmp_path / "active_learning.md"
    md.write_text("# proxy report\n\nkept\n", encoding="utf-8")
    curves = _curves({"random": [0.4, 0.6, 0.72], "margin": [0.4, 0.75, 0.75]})
    rows, target = bench.summarise(curves, budget=24)
    timings = [{"seconds": 60.0, "train_seconds": 40.0}]
    for _ in range(2):  # a second run replaces the first section instead of appending
        bench.write_section(md, _meta({"llm": target, "proxy": target}), {"llm": rows}, timings)
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# proxy report\n\nkept\n")
    assert text.count(bench.MARK_BEGIN) == 1
    assert text.count(bench.MARK_END) == 1
    assert "| llm | margin | 3/3 | 16.0 | +33.3%" in text
    assert "zero-shot" in text


def test_target_is_95_percent_of_the_best_strategys_final_score() -> None:
    curves = _curves({"random": [0.4, 0.6, 0.7], "margin": [0.4, 0.7, 0.8]})
    _, target = bench.summarise(curves, budget=24)
    assert abs(target - 0.95 * 0.8) < 1e-9


def test_label_words_rename_both_classes_to_distinct_words() -> None:
    assert set(bench.LABEL_WORDS) == {"fresh", "rotten"}
    assert len(set(bench.LABELS)) == 2
    assert "{text}" in bench.PROMPT
    assert all(word in bench.PROMPT for word in bench.LABELS)


def test_round_recipe_is_lora_for_several_epochs() -> None:
    """The learning check before the run: fewer than 4 epochs did not learn the label."""
    from tunetui.runner.flags import recipe_from_flags

    recipe = recipe_from_flags(recommend=False, name="round", **bench.RECIPE)
    assert recipe.method == "lora"
    assert recipe.training.epochs >= 4
