"""Model catalog: parameter counts derived from the architecture match the published totals."""

from __future__ import annotations

import json
import re

import pytest
from tunetui.planner.errors import UserError
from tunetui.planner.models import (
    CATALOG,
    list_models,
    parse_params,
    resolve_model,
    spec_from_config,
    spec_from_params,
)

# Exact totals (safetensors metadata / model cards) for the architectures we count.
EXACT = {
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.2-3b": 3_212_749_824,
    "llama-3.1-70b": 70_553_706_496,
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-7b": 7_615_616_512,
    "qwen3-0.6b": 596_049_920,
    "qwen3-30b-a3b": 30_532_122_624,
    "mistral-7b": 7_248_023_552,
    "mixtral-8x7b": 46_702_792_704,
    "smollm2-135m": 134_515_008,
    "gemma-3-1b": 999_885_952,
    "gemma-2-2b": 2_614_341_888,
}


@pytest.mark.parametrize("model_id,total", EXACT.items())
def test_exact_parameter_counts(model_id: str, total: int) -> None:
    assert CATALOG[model_id].n_params == total


@pytest.mark.parametrize("spec", CATALOG.values(), ids=lambda s: s.id)
def test_every_entry_within_half_a_percent_of_its_model_card(spec) -> None:
    assert abs(spec.n_params / spec.published_params - 1) < 0.005


def test_catalog_covers_the_popular_families() -> None:
    assert len(CATALOG) >= 25
    for needed in ("llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b",
                   "qwen2.5-0.5b", "qwen2.5-72b", "qwen3-0.6b", "qwen3-32b", "mistral-7b",
                   "gemma-2-9b", "gemma-3-1b", "phi-3-mini", "phi-4", "smollm2-135m",
                   "smollm2-360m", "smollm2-1.7b", "qwen3-30b-a3b", "mixtral-8x7b"):  # fmt: skip
        assert needed in CATALOG


def test_moe_active_parameters() -> None:
    # Qwen3-30B-A3B: "30.5B total, 3.3B activated"; Mixtral 8x7B: ~12.9B active
    assert 3.2e9 < CATALOG["qwen3-30b-a3b"].counts().active < 3.5e9
    assert 12.5e9 < CATALOG["mixtral-8x7b"].counts().active < 13.1e9


@pytest.mark.parametrize(
    "alias,expected",
    [
        ("llama-3.1-8b", "llama-3.1-8b"),
        ("meta-llama/Llama-3.1-8B", "llama-3.1-8b"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b"),
        ("google/gemma-2-9b-it", "gemma-2-9b"),
        ("SMOLLM2-135M", "smollm2-135m"),
    ],
)
def test_aliases(alias: str, expected: str) -> None:
    assert resolve_model(alias).id == expected


def test_typo_suggests_close_match() -> None:
    with pytest.raises(UserError, match="Did you mean 'llama-3.1-8b'"):
        resolve_model("llama-3.1-8")


def test_default_is_the_embedded_model() -> None:
    assert resolve_model(None).id == "smollm2-135m"


def _tiny_config() -> dict:
    return {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": 256, "tie_word_embeddings": True}  # fmt: skip


def test_hf_directory_and_config_file(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_tiny_config()))
    by_dir = resolve_model(str(tmp_path))
    by_file = resolve_model(str(tmp_path / "config.json"))
    # embed 256*64 + per layer (q 64*64 + k,v 2*64*32 + o 64*64 + mlp 3*64*128 + 2 norms*64)
    per_layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128 + 2 * 64
    assert by_dir.n_params == by_file.n_params == 256 * 64 + 2 * per_layer + 64


def test_hf_cache_lookup(tmp_path, monkeypatch) -> None:
    snap = tmp_path / "models--acme--tiny-lm" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(_tiny_config()))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert resolve_model("acme/tiny-lm").hidden_size == 64


def test_bad_config_is_a_user_error(tmp_path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="cannot read"):
        resolve_model(str(bad))
    bad.write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(UserError, match="lacks hidden_size"):
        resolve_model(str(bad))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="without config.json"):
        resolve_model(str(tmp_path / "empty"))


def test_moe_and_nested_text_config() -> None:
    mixtral = spec_from_config({**_tiny_config(), "model_type": "mixtral",
                                "num_local_experts": 4, "num_experts_per_tok": 2})  # fmt: skip
    assert mixtral.num_experts == 4 and mixtral.is_moe
    nested = spec_from_config({"text_config": _tiny_config(), "tie_word_embeddings": False})
    assert nested.hidden_size == 64 and not nested.tie_word_embeddings


def test_params_fallback() -> None:
    assert parse_params("7B") == 7e9 and parse_params("350m") == 350e6
    spec = spec_from_params("7B")
    assert spec.approx and abs(spec.n_params / 7e9 - 1) < 0.05
    with pytest.raises(UserError):
        parse_params("seven")


@pytest.mark.parametrize(
    "size,layers,hidden",
    [("7B", 32, 4096), ("8B", 32, 4096), ("13B", 40, 5120), ("70B", 80, 8192), ("1B", 26, 1152)],
)
def test_params_shape_borrows_the_nearest_real_model(size: str, layers: int, hidden: int) -> None:
    # 7B used to come out with 31 layers; real 7B models have 32.
    spec = spec_from_params(size)
    assert (spec.num_hidden_layers, spec.hidden_size) == (layers, hidden)
    assert abs(spec.n_params / parse_params(size) - 1) < 0.01
    assert 2 * spec.hidden_size <= spec.intermediate_size <= 8 * spec.hidden_size


def test_params_alone_and_bad_params() -> None:
    assert resolve_model(None, "7B").approx
    with pytest.raises(UserError, match="cannot read --params '7Q'"):
        resolve_model("llama-3.1-8b", "7Q")  # checked even when the model resolves
    with pytest.raises(UserError, match="cannot read --params"):
        resolve_model(None, "7Q")


@pytest.mark.parametrize("arg", ["/nonexistent", "./nope", "~/nope/model", "cfg/config.json"])
def test_missing_path_says_so(arg: str) -> None:
    with pytest.raises(UserError, match=f"model path '{re.escape(arg)}' does not exist"):
        resolve_model(arg)


def test_hub_style_id_is_still_an_unknown_model() -> None:
    with pytest.raises(UserError, match="unknown model 'acme/nope'"):
        resolve_model("acme/nope")


def test_list_models_rows() -> None:
    rows = list_models()
    assert len(rows) == len(CATALOG)
    assert {"id", "hf_id", "params_b", "moe"} <= set(rows[0])
