"""The GPU catalog: coverage, lookup by any spelling, and NVML-name matching."""

from __future__ import annotations

import json

import pytest
from tunetui.planner.errors import UserError
from tunetui.planner.gpus import CATALOG, match_nvml_name, normalize, resolve_gpu


def test_catalog_is_large_and_consistent() -> None:
    assert len(CATALOG) >= 30
    keys = [s.key for s in CATALOG]
    assert len(keys) == len(set(keys))
    for spec in CATALOG:
        assert spec.bf16 == (spec.compute_capability >= (8, 0)), spec.key
        assert (spec.tflops_bf16 > 0) == spec.bf16, spec.key
        assert spec.tflops_fp16 > 0 and spec.bandwidth_gbs > 0, spec.key
        assert 8 <= spec.memory_gib <= 200, spec.key


def test_aliases_do_not_collide() -> None:
    """Two cards claiming one spelling would make `--gpu` silently pick the first."""
    owner: dict[str, str] = {}
    for spec in CATALOG:
        for word in (spec.key, spec.name, *spec.aliases):
            norm = normalize(word)
            assert owner.setdefault(norm, spec.key) == spec.key, (word, owner[norm], spec.key)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("4090", "rtx-4090"),
        ("RTX 4090", "rtx-4090"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("A100 80GB", "a100-80g"),
        ("a100-80gb", "a100-80g"),
        ("A100_80G", "a100-80g"),
        ("H100", "h100-sxm"),
        ("h100 pcie", "h100-pcie"),
        ("rtx 3060", "rtx-3060"),
        ("3080 12GB", "rtx-3080-12g"),
        ("t4", "t4"),
        ("L40S", "l40s"),
        ("rtx a6000", "rtx-a6000"),
        ("RTX 6000 Ada", "rtx-6000-ada"),
        ("rtx pro 6000", "rtx-pro-6000"),
        ("4070 Ti Super", "rtx-4070-ti-super"),
    ],
)
def test_resolve_any_spelling(name: str, key: str) -> None:
    assert resolve_gpu(name).key == key


def test_known_figures() -> None:
    h100 = resolve_gpu("H100")
    assert h100.memory_gib == pytest.approx(79.6, abs=0.1) and h100.tflops_bf16 == 989
    assert "SXM" in h100.note
    assert resolve_gpu("4090").memory_gib == pytest.approx(23.99)
    t4 = resolve_gpu("T4")
    assert not t4.bf16 and t4.tflops_bf16 == 0 and t4.tflops_fp16 == 65


def test_typo_suggests_and_unknown_points_to_listing() -> None:
    with pytest.raises(UserError) as err:
        resolve_gpu("rtx 4909")
    assert "unknown GPU 'rtx 4909'" in err.value.line() and "Did you mean" in err.value.line()
    with pytest.raises(UserError) as err:
        resolve_gpu("quantum-9000")
    assert "tunetui gpus" in err.value.line()


@pytest.mark.parametrize(
    ("nvml_name", "total", "key"),
    [
        ("NVIDIA H100 80GB HBM3", 79.65, "h100-sxm"),
        ("NVIDIA H100 PCIe", 79.65, "h100-pcie"),
        ("NVIDIA GeForce RTX 4090", 23.99, "rtx-4090"),
        ("Tesla T4", 15.0, "t4"),
        ("NVIDIA A100-SXM4-40GB", 39.59, "a100-40g"),
        ("NVIDIA A100 80GB PCIe", 80.0, "a100-80g-pcie"),
        ("NVIDIA GeForce RTX 3080", 10.0, "rtx-3080"),
        ("NVIDIA GeForce RTX 3080", 12.0, "rtx-3080-12g"),
        ("NVIDIA A100-SXM4-80GB MIG 1g.10gb", None, "a100-80g"),
        ("NVIDIA RTX 6000 Ada Generation", 47.99, "rtx-6000-ada"),
        ("Tesla V100-SXM2-32GB", 31.75, "v100-32g"),
    ],
)
def test_match_nvml_names(nvml_name: str, total: float | None, key: str) -> None:
    spec = match_nvml_name(nvml_name, total)
    assert spec is not None and spec.key == key


def test_unknown_nvml_name_is_none() -> None:
    assert match_nvml_name("NVIDIA Quantum QX9000", 64.0) is None


def test_gpus_cli(cli) -> None:
    code, out, _ = cli("gpus", "--json")
    assert code == 0
    data = json.loads(out)["gpus"]
    assert len(data) == len(CATALOG) and data[0]["compute_capability"].count(".") == 1
    code, out, _ = cli("gpus")
    assert code == 0 and "rtx-4090" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_memory_reference_rows_are_complete_and_gpus_are_catalogued() -> None:
    """bench/memory_reference.json is what the estimator is checked against: keep it usable."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "memory_reference.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    assert len(rows) >= 10 and len({r["id"] for r in rows}) == len(rows)
    model_keys = {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"}
    model_keys |= {"num_key_value_heads", "vocab_size", "tie_word_embeddings", "head_dim"}
    config_keys = {"method", "bits", "lora_rank", "targets", "batch_size", "seq_len", "attn"}
    config_keys |= {"gradient_checkpointing", "optimizer", "precision", "n_gpus", "parallel"}
    for row in rows:
        assert row["metric"] in {"max_memory_allocated", "max_memory_reserved", "nvidia_smi"}
        assert model_keys <= set(row["model_config"]) and config_keys <= set(row["config"])
        assert row["config"]["method"] in {"full", "freeze", "lora", "dora", "qlora"}
        assert 0 < row["measured_gib"] < 200 and row["quote"] and row["url"].startswith("https://")
        assert resolve_gpu(row["gpu"]).memory_gib >= row["measured_gib"], row["id"]
