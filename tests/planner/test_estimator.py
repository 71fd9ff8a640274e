"""Estimator terms against hand-computed values (tiny and real configs), and its invariants."""

from __future__ import annotations

import time

import pytest
from tunetui.planner import estimator as est
from tunetui.planner.errors import UserError
from tunetui.planner.estimator import GIB, TrainConfig, estimate, layer_activation_bytes
from tunetui.planner.models import CATALOG, ModelSpec

TINY = ModelSpec(id="tiny", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=256,
                 tie_word_embeddings=True)  # fmt: skip
LLAMA8 = CATALOG["llama-3.1-8b"]


def test_lora_trainable_params_by_hand() -> None:
    # per layer r*(in+out): q 64+64, k 64+32, v 64+32, o 64+64, gate/up 64+128, down 128+64
    cfg = TrainConfig(method="lora", lora_rank=8)
    per_layer = 8 * (128 + 96 + 96 + 128 + 192 + 192 + 192)
    assert est.trainable_params(TINY, cfg) == 2 * per_layer
    qv = cfg.replace(targets="qv")
    assert est.trainable_params(TINY, qv) == 2 * 8 * (128 + 96)
    dora = cfg.replace(method="dora", targets="qv")
    assert est.trainable_params(TINY, dora) == 2 * (8 * (128 + 96) + 64 + 32)
    # Llama-3.1-8B, r=16 on all linears: the well-known 41.9M
    assert est.trainable_params(LLAMA8, TrainConfig(lora_rank=16)) == 41_943_040


def test_full_layer_activations_by_hand() -> None:
    cfg = TrainConfig(method="full", attn="flash")
    h, q, kv, inter, e = 64, 64, 32, 128, 2
    expected = (
        2 * (4 * h + e * h)  # two RMSNorms: fp32 input copy + normalised output
        + e * h  # shared input of q/k/v
        + e * (2 * q + 2 * kv) + 4 * 4  # flash saves q, k, v, out + fp32 logsumexp per head
        + e * q  # o_proj input
        + e * h + 3 * e * inter + e * inter  # gate/up input, silu in/out + up out, down input
    )  # fmt: skip
    assert layer_activation_bytes(TINY, cfg, trainable_layer=True) == expected


def test_frozen_base_saves_less_than_full() -> None:
    lora = TrainConfig(method="lora", lora_dropout=0.0, attn="flash")
    full = lora.replace(method="full")
    assert layer_activation_bytes(TINY, lora, True) < layer_activation_bytes(TINY, full, True)
    # dropout adds a mask (1 B) and a dropped copy (2 B) of each adapted linear's input
    drop = lora.replace(lora_dropout=0.1)
    ins = 64 * 6 + 128  # q,k,v,o,gate,up take 64 wide inputs; down takes 128
    diff = layer_activation_bytes(TINY, drop, True) - layer_activation_bytes(TINY, lora, True)
    shared = 2 * 64 + 2 * 64 + 2 * 64 + 2 * 128  # q/k/v, o, gate/up, down inputs: not kept
    assert diff == 3 * ins - shared


def test_weights_nf4_and_int8_real_model() -> None:
    c = LLAMA8.counts()
    q4 = estimate(LLAMA8, TrainConfig(method="qlora", upcast_non_quantized=False))
    expected = (c.linear * est.NF4_BYTES + (c.embed + c.lm_head + c.other) * 2) / GIB
    assert q4.breakdown_gib["weights"] == pytest.approx(expected)
    assert 5.0 < expected < 5.5  # ~7B linears at ~0.52 B + 1.05B embed/head at 2 B
    up = estimate(LLAMA8, TrainConfig(method="qlora", upcast_non_quantized=True))
    assert up.breakdown_gib["weights"] - expected == pytest.approx(
        (c.embed + c.lm_head + c.other) * 2 / GIB
    )
    q8 = estimate(LLAMA8, TrainConfig(method="lora", bits=8, upcast_non_quantized=False))
    assert 8.0 < q8.breakdown_gib["weights"] < 8.6
    b16 = estimate(LLAMA8, TrainConfig(method="lora"))
    assert b16.breakdown_gib["weights"] == pytest.approx(c.total * 2 / GIB)


def test_full_finetune_optimizer_and_grads() -> None:
    cfg = TrainConfig(method="full", batch_size=1, seq_len=128)
    e = estimate(LLAMA8, cfg)
    n = LLAMA8.n_params
    assert e.breakdown_gib["optimizer"] == pytest.approx(2 * 2 * n / GIB)  # bf16 AdamW states
    fp16 = estimate(LLAMA8, cfg.replace(precision="fp16"))  # fp32 masters: 4 + 8 B/param
    assert fp16.breakdown_gib["weights"] == pytest.approx(4 * n / GIB)
    assert fp16.breakdown_gib["optimizer"] == pytest.approx(8 * n / GIB)
    assert estimate(LLAMA8, cfg.replace(optimizer="adamw_8bit")).breakdown_gib[
        "optimizer"
    ] == pytest.approx(2 * n / GIB)
    assert "optimizer" not in estimate(LLAMA8, cfg.replace(optimizer="sgd")).breakdown_gib
    paged = estimate(LLAMA8, cfg.replace(optimizer="paged_adamw"))
    assert paged.breakdown_gib["paged_optimizer"] == pytest.approx(8 * n / GIB)
    galore = estimate(LLAMA8, cfg.replace(optimizer="galore"))
    assert galore.breakdown_gib["optimizer"] < e.breakdown_gib["optimizer"] / 3


def test_logits_spike_by_hand() -> None:
    cfg = TrainConfig(method="lora", batch_size=2, seq_len=100)
    e = estimate(TINY, cfg)
    tokens = 200
    expected = tokens * 256 * est.HF_LOSS_BYTES + tokens * (4 + 2) * 64
    assert e.breakdown_gib["logits"] == pytest.approx(expected / GIB)
    rm = estimate(TINY, cfg.replace(stage="rm"))  # a scalar head: no vocabulary spike
    assert rm.breakdown_gib.get("logits", 0) < e.breakdown_gib["logits"]


def test_checkpointing_and_attention_choices() -> None:
    cfg = TrainConfig(method="lora", batch_size=4, seq_len=4096, attn="flash")
    plain = estimate(LLAMA8, cfg)
    ckpt = estimate(LLAMA8, cfg.replace(gradient_checkpointing=True))
    eager = estimate(LLAMA8, cfg.replace(attn="eager"))
    assert ckpt.allocated_gib < plain.allocated_gib
    # eager keeps batch*heads*seq^2 probabilities (fp32 softmax + bf16 copy) per layer
    extra = 4 * 32 * 4096 * 4096 * (4 + 2) * 32 / GIB
    assert eager.allocated_gib - plain.allocated_gib > extra


def test_totals_add_up_and_metrics_are_ordered() -> None:
    for cfg in (TrainConfig(), TrainConfig(method="full"), TrainConfig(method="qlora")):
        e = estimate(LLAMA8, cfg)
        assert sum(e.breakdown_gib.values()) == pytest.approx(e.total_gib, rel=1e-6)
        assert e.allocated_gib < e.reserved_gib < e.total_gib


def test_stages_and_parallelism() -> None:
    full = TrainConfig(method="full", seq_len=512)
    sft = estimate(LLAMA8, full)
    dpo = estimate(LLAMA8, full.replace(stage="dpo"))
    assert dpo.breakdown_gib["weights"] == pytest.approx(2 * sft.breakdown_gib["weights"])
    lora = TrainConfig(seq_len=512)
    lora_dpo = estimate(LLAMA8, lora.replace(stage="dpo"))
    assert lora_dpo.breakdown_gib["weights"] == estimate(LLAMA8, lora).breakdown_gib["weights"]
    zero3 = estimate(LLAMA8, full.replace(n_gpus=4, parallel="zero3"))
    assert zero3.breakdown_gib["weights"] == pytest.approx(sft.breakdown_gib["weights"] / 4)
    assert zero3.breakdown_gib["optimizer"] == pytest.approx(sft.breakdown_gib["optimizer"] / 4)
    zero2 = estimate(LLAMA8, full.replace(n_gpus=4, parallel="zero2"))
    assert zero2.breakdown_gib["weights"] == sft.breakdown_gib["weights"]


def test_cpu_mode_has_no_cuda_terms() -> None:
    e = estimate(TINY, TrainConfig(device="cpu", precision="fp32"))
    assert e.device == "cpu" and "cuda_context" not in e.breakdown_gib
    assert e.breakdown_gib["runtime"] == est.CPU_RUNTIME_GIB


def test_a_cpu_plan_is_for_the_padded_length_the_runner_trains_on() -> None:
    """CPU batches are padded to a multiple of CPU_PAD_MULTIPLE (runner.train.hostmem)."""
    m = est.CPU_PAD_MULTIPLE

    def total(device: str, seq: int) -> float:
        return estimate(TINY, TrainConfig(device=device, seq_len=seq, precision="fp32")).total_gib

    assert total("cpu", 8 * m - 12) == total("cpu", 8 * m)
    assert total("cpu", 8 * m + 1) == total("cpu", 9 * m) > total("cpu", 8 * m)
    assert total("cuda", 8 * m - 12) < total("cuda", 8 * m)  # a GPU batch is not padded


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"method": "full", "bits": 4}, "cannot train"),
        ({"lora_rank": 0}, "--rank"),
        ({"seq_len": 0}, "--seq"),
        ({"batch_size": -1}, "--batch"),
        ({"method": "lorra"}, "Did you mean 'lora'"),
        ({"optimizer": "adam"}, "Did you mean 'adamw'"),
        ({"bits": 3}, "--bits 3"),
    ],
)
def test_bad_configs_are_user_errors(changes: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        TrainConfig(**changes)


def test_recipe_spellings_are_accepted() -> None:
    cfg = TrainConfig(precision="auto", attn="flash_attention_2", targets=["q_proj", "v_proj"])
    assert (cfg.precision, cfg.attn, cfg.targets) == (
        "bf16",
        "flash_attention_2",
        ("q_proj", "v_proj"),
    )
    assert TrainConfig(precision="auto", compute_capability=(7, 5)).precision == "fp16"
    assert TrainConfig(precision="auto", device="cpu").precision == "fp32"


def test_fast_enough_for_a_keystroke() -> None:
    cfg = TrainConfig(method="qlora", gradient_checkpointing=True)
    start = time.perf_counter()
    for _ in range(200):
        estimate(LLAMA8, cfg)
    assert (time.perf_counter() - start) / 200 < 1e-3


MISTRAL_V01 = ModelSpec(id="mistral-7b-v0.1", hidden_size=4096, intermediate_size=14336,
                        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                        vocab_size=32000)  # fmt: skip


@pytest.mark.parametrize(
    "changes,measured_gib",
    [
        # fms-acceleration a100_80gb.csv (max_memory_allocated, FSDP on one A100 80GB,
        # 4096-token packed alpaca, flash attention, checkpointing, pure bf16 AdamW)
        ({"method": "full", "batch_size": 4}, 67.46),
        ({"method": "lora", "batch_size": 4, "targets": "attn", "lora_dropout": 0.1}, 24.87),
        ({"method": "lora", "batch_size": 8, "targets": "attn", "lora_dropout": 0.1}, 36.08),
        ({"method": "qlora", "batch_size": 4, "targets": "attn", "lora_dropout": 0.1,
          "kbit_saves_inputs": False}, 19.25),  # bitsandbytes 0.43.3
    ],
)  # fmt: skip
def test_published_measurements_within_ten_percent(changes: dict, measured_gib: float) -> None:
    """A calibration guard: bench/plan_accuracy.py has the full comparison."""
    cfg = TrainConfig(seq_len=4096, gradient_checkpointing=True, attn="flash",
                      parallel="fsdp", optimizer="adamw", **changes)  # fmt: skip
    got = estimate(MISTRAL_V01, cfg).allocated_gib
    assert abs(got / measured_gib - 1) < 0.10
