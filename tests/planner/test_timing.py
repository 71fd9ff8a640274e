"""Time estimate: FLOPs per token and tokens/s ranges."""

from __future__ import annotations

import pytest
from tunetui.planner.estimator import TrainConfig
from tunetui.planner.models import CATALOG
from tunetui.planner.timing import estimate_time, flops_per_token, format_duration

LLAMA8 = CATALOG["llama-3.1-8b"]


def _attn(seq: int) -> float:
    return 4 * seq * LLAMA8.q_dim * LLAMA8.num_hidden_layers / 2


def test_full_is_6n_plus_attention() -> None:
    n = LLAMA8.n_params
    cfg = TrainConfig(method="full", seq_len=2048)
    assert flops_per_token(LLAMA8, cfg) == pytest.approx(6 * n + 3 * _attn(2048))


def test_lora_skips_weight_grads_and_ckpt_adds_a_forward() -> None:
    n = LLAMA8.n_params
    lora = TrainConfig(method="lora", seq_len=2048)
    assert flops_per_token(LLAMA8, lora) == pytest.approx(4 * n + 3 * _attn(2048))
    ckpt = lora.replace(gradient_checkpointing=True)
    assert flops_per_token(LLAMA8, ckpt) == pytest.approx(6 * n + 4 * _attn(2048))
    full_ckpt = TrainConfig(method="full", gradient_checkpointing=True, seq_len=2048)
    full = TrainConfig(method="full", seq_len=2048)
    ratio = flops_per_token(LLAMA8, full_ckpt) / flops_per_token(LLAMA8, full)
    assert ratio == pytest.approx(4 / 3, rel=0.01)


def test_moe_uses_active_parameters() -> None:
    moe = CATALOG["qwen3-30b-a3b"]
    cfg = TrainConfig(method="lora", seq_len=128)
    assert flops_per_token(moe, cfg) < 4 * 4e9


def test_range_and_epoch_time() -> None:
    cfg = TrainConfig(method="lora", seq_len=2048)
    t = estimate_time(LLAMA8, cfg, peak_tflops=312.0, dataset_tokens=10_000_000)
    lo, hi = t.tokens_per_s
    assert 0 < lo < hi and hi / lo == pytest.approx(0.55 / 0.25)
    assert t.seconds_per_epoch is not None
    assert t.seconds_per_epoch[0] == pytest.approx(10_000_000 / hi)
    assert not t.rough
    q = estimate_time(LLAMA8, cfg.replace(method="qlora"), peak_tflops=312.0)
    assert q.tokens_per_s[1] < hi  # dequantisation costs throughput


def test_cpu_is_rough_and_labelled() -> None:
    t = estimate_time(CATALOG["smollm2-135m"], TrainConfig(device="cpu"), None, cpu_cores=4)
    assert t.rough and "cores" in t.basis
    assert t.to_dict()["seconds_per_epoch"] is None


def test_format_duration() -> None:
    assert format_duration(42) == "42s"
    assert format_duration(17 * 60) == "17m"
    assert format_duration(3.2 * 3600) == "3.2h"
    assert format_duration(3 * 86400) == "3.0d"


def test_cpu_peak_comes_from_the_cores_vector_units_and_clock() -> None:
    from tunetui.planner.timing import CPU_GFLOPS_PER_CORE, cpu_gflops_per_core

    avx2 = "processor\t: 0\ncpu MHz\t\t: 2600.000\nflags\t\t: sse sse2 avx avx2 fma\n"
    assert cpu_gflops_per_core(avx2) == 32 * 2.6
    assert cpu_gflops_per_core(avx2, bf16=True) == 32 * 2.6  # emulated bf16: no faster
    assert cpu_gflops_per_core(avx2.replace(" avx2 fma", "")) == 16 * 2.6
    assert cpu_gflops_per_core("nothing useful") == CPU_GFLOPS_PER_CORE
    intel = "vendor_id\t: GenuineIntel\n" + avx2.replace("fma", "fma avx512f avx512_bf16")
    assert cpu_gflops_per_core(intel) == 64 * 2.6  # two 512-bit FMA pipes
    assert cpu_gflops_per_core(intel, bf16=True) == 128 * 2.6
    zen4 = intel.replace("GenuineIntel", "AuthenticAMD") + "cpu family\t: 25\n"
    assert cpu_gflops_per_core(zen4) == 32 * 2.6  # AVX-512 double-pumped on 256-bit pipes
    assert cpu_gflops_per_core(zen4.replace(": 25", ": 26")) == 64 * 2.6  # Zen 5


def test_more_gpus_are_faster_but_not_linearly_and_sharding_costs_more() -> None:
    from tunetui.planner.models import resolve_model
    from tunetui.planner.timing import estimate_time
    from tunetui.planner.trainconfig import TrainConfig

    model = resolve_model("llama-3.1-8b")
    one = estimate_time(model, TrainConfig(method="full"), 989.0).tokens_per_s[1]
    rates = {}
    for parallel in ("ddp", "zero3"):
        t = estimate_time(model, TrainConfig(method="full", n_gpus=8, parallel=parallel), 989.0)
        rates[parallel] = t.tokens_per_s[1]
        assert f"8 GPUs, {parallel} at" in t.basis
    assert one < rates["zero3"] < rates["ddp"] < 8 * one
