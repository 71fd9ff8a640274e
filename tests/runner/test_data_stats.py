"""data_stats / preview: token lengths and rendered samples without transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _data_fixtures import recipe


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    folder = tmp_path_factory.mktemp("tok")
    tiny_tokenizer.save_pretrained(folder)
    return folder


def test_stats_with_tokenizer(tokenizer_dir: Path) -> None:
    from tunetui.runner.data import data_stats

    stats = data_stats(recipe("sft", ["identity"], cutoff_len=1024), tokenizer_dir)
    assert stats["n"] == 40 and 0 < stats["p50"] <= stats["p95"] <= stats["max"]
    assert stats["over_cutoff"] == 0 and stats["warnings"] == []
    assert "tokenizer.json" in stats["method"]


def test_stats_without_tokenizer_approximates(tmp_path: Path) -> None:
    from tunetui.runner.data import data_stats

    r = recipe("sft", ["identity"])
    r.model.name_or_path = str(tmp_path)  # no tokenizer.json there
    stats = data_stats(r, tmp_path)
    assert stats["method"].startswith("chars/4") and stats["p50"] > 0


def test_warns_when_most_samples_exceed_cutoff(tokenizer_dir: Path) -> None:
    from tunetui.runner.data import data_stats

    stats = data_stats(recipe("dpo", ["dpo_demo"], cutoff_len=16), tokenizer_dir)
    assert stats["over_cutoff_frac"] > 0.5
    assert "cutoff_len=16" in stats["warnings"][0] and str(stats["p95"]) in stats["warnings"][0]


def test_preview_renders_template(tokenizer_dir: Path) -> None:
    from tunetui.runner.data import preview

    texts = preview(recipe("sft", ["sharegpt_demo"]), n=2, tokenizer_dir=tokenizer_dir)
    assert len(texts) == 2 and texts[0].count("<|im_start|>assistant") == 2
    llama = preview(recipe("sft", ["identity"], template="llama3"), n=1)
    assert "<|start_header_id|>user<|end_header_id|>" in llama[0]
    pt = preview(recipe("pt", ["pretrain_demo"]), n=1)
    assert "<|" not in pt[0]


def test_stats_and_preview_stay_light() -> None:
    code = (
        "import sys, json\n"
        "from tunetui.runner.recipe import Recipe\n"
        "from tunetui.runner.data import data_stats, preview\n"
        "r = Recipe()\n"
        "data_stats(r); preview(r)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'datasets', 'trl'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], out.stderr


def test_big_datasets_are_sampled_but_max_is_exact(tokenizer_dir: Path) -> None:
    from tunetui.runner.data import data_stats, validate_data

    r = recipe("sft", ["identity", "sharegpt_demo"])
    full = data_stats(r, tokenizer_dir)
    sampled = data_stats(r, tokenizer_dir, sample_limit=10)
    assert sampled["n"] == full["n"] == validate_data(r).total and sampled["sampled"] == 10
    assert sampled["max"] == full["max"]
