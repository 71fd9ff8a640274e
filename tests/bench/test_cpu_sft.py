"""bench/cpu_sft.py: both tools get the same job, and the comparison reads the right figures."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import cpu_sft as bench  # noqa: E402


def test_llamafactory_gets_the_same_job_as_the_tunetui_recipe(tmp_path: Path) -> None:
    recipe = bench.bench_recipe(tmp_path)
    lf = bench.lf_config(tmp_path / "model", tmp_path, tmp_path / "out")
    t, d = recipe.training, recipe.data
    assert (lf["per_device_train_batch_size"], lf["gradient_accumulation_steps"]) == (2, 4)
    assert (t.batch_size, t.grad_accum, t.max_steps, t.precision) == (2, 4, 10, "auto")
    assert lf["max_steps"] == t.max_steps and lf["learning_rate"] == t.learning_rate
    assert lf["cutoff_len"] == d.cutoff_len and lf["max_samples"] == d.max_samples
    assert lf["lora_rank"] == recipe.lora.rank and lf["lora_target"] == "all"
    assert lf["dataset"].split(",") == list(d.datasets)
    assert "bf16" not in lf and "fp16" not in lf  # LF's own default, like tunetui's auto
    assert bench._lf_dtype("... Will use dtype=torch.bfloat16 as defined ...") == "bfloat16"


def test_comparison_uses_the_workers_peak_and_the_median_of_repeats() -> None:
    runs = [
        {"train_samples_per_s": 0.5, "wall_s": 100.0, "worker_peak_gib": 2.0, "plan_gib": 2.1},
        {"train_samples_per_s": 0.7, "wall_s": 90.0, "worker_peak_gib": 2.2, "plan_gib": 2.1},
    ]
    tunetui = bench.medians(runs)
    assert tunetui["train_samples_per_s"] == 0.6 and tunetui["repeats"] == 2
    lf = {"train_samples_per_s": 0.3, "wall_s": 200.0, "peak_rss_gb": 2.5}
    c = bench.compare(tunetui, lf)
    assert c["samples_per_s_ratio"] == 2.0 and c["pass"]["samples_per_s"] is True
    assert c["worker_peak_gb"] == round(2.1 * 2**30 / 1e9, 3)
    assert c["pass"]["peak_at_or_below_lf"] is True
    assert c["plan_error_pct"] == 0.0
