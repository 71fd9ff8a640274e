"""The optimizer step, the bitsandbytes version, fragmentation/NCCL, FSDP without
accumulation, and the options the plan now takes in the recipe's vocabulary."""

from __future__ import annotations

import json

import pytest
from tunetui.planner import overhead, stack
from tunetui.planner.estimator import GIB, TrainConfig, estimate, layer_activation_bytes
from tunetui.planner.models import CATALOG, spec_from_config
from tunetui.planner.plan import build_plan

LLAMA_1B = CATALOG["llama-3.2-1b"]
N = LLAMA_1B.counts().total
# fms-acceleration's 2-GPU FSDP model (its published config.json): a small vocabulary, so
# the body, not the logits, decides the peak
MISTRAL_7B = spec_from_config(
    {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
     "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
     "vocab_size": 32000, "tie_word_embeddings": False, "head_dim": 128},
    id_="mistralai/Mistral-7B-v0.1",
)  # fmt: skip


def test_foreach_adamw_peaks_at_ten_bytes_per_param_in_the_step() -> None:
    """Full fine-tuning in pure bf16: weights 2 + grads 2 + two states 4 + foreach's sqrt
    temporary 2 = 10 B/param at the optimizer step; fused AdamW has no temporary (8 B)."""
    tiny = dict(method="full", seq_len=16, batch_size=1, loss_impl="fused")
    foreach = estimate(LLAMA_1B, TrainConfig(optimizer="adamw", **tiny))
    fused = estimate(LLAMA_1B, TrainConfig(optimizer="adamw_fused", **tiny))
    assert foreach.peak_phase == "optimizer" and fused.peak_phase == "optimizer"
    assert foreach.allocated_gib * GIB / N == pytest.approx(10.0, abs=0.05)
    assert fused.allocated_gib * GIB / N == pytest.approx(8.0, abs=0.05)
    assert foreach.breakdown_gib["optimizer_step"] * GIB / N == pytest.approx(2.0, abs=0.01)


def test_planner_and_runner_share_the_optimizer_default() -> None:
    from tunetui.options import default

    assert default("optim") == "adamw_fused"
    assert TrainConfig().optimizer == default("optim")
    assert TrainConfig().lora_rank == default("rank")
    assert TrainConfig().lora_dropout == default("dropout")


@pytest.mark.parametrize(
    "version,saves",
    [("0.41.1", True), ("0.43.1", True), ("0.43.2", False), ("0.50.2", False),
     ("0.45.0.dev0", False), (None, True), ("garbage", True)],
)  # fmt: skip
def test_bitsandbytes_before_0_43_2_keeps_4bit_inputs_and_unknown_is_conservative(
    version: str | None, saves: bool
) -> None:
    assert stack.kbit_saves_inputs(version) is saves


def test_bitsandbytes_version_is_read_from_metadata_without_importing_it(monkeypatch) -> None:
    import sys

    stack.installed_version.cache_clear()
    monkeypatch.setattr(stack.metadata, "version", lambda name: "0.41.1")
    try:
        cfg = TrainConfig(method="qlora")
        assert cfg.kbit_saves_inputs is True
        assert "bitsandbytes" not in sys.modules or sys.modules["bitsandbytes"] is not None
    finally:
        stack.installed_version.cache_clear()
    assert TrainConfig(method="lora").kbit_saves_inputs is False  # 16-bit: no 4-bit matmuls


def test_fragmentation_is_larger_for_qlora_and_sharded_runs_and_nccl_is_counted() -> None:
    base = dict(seq_len=2048, batch_size=4, gradient_checkpointing=True)
    plain = estimate(LLAMA_1B, TrainConfig(method="lora", **base))
    qlora = estimate(LLAMA_1B, TrainConfig(method="qlora", kbit_saves_inputs=False, **base))
    two = estimate(LLAMA_1B, TrainConfig(method="lora", n_gpus=2, parallel="fsdp", **base))

    def frag_share(e):
        return e.breakdown_gib["fragmentation"] / e.allocated_gib

    assert frag_share(qlora) > 2 * frag_share(plain)
    assert two.breakdown_gib["nccl"] == overhead.NCCL_GIB
    assert "nccl" not in plain.breakdown_gib
    assert sum(plain.breakdown_gib.values()) == pytest.approx(plain.total_gib)


def test_fits_is_judged_on_the_total_with_a_margin() -> None:
    """A job whose total is 98% of the card is not called "fits": nvidia-smi's figure
    wanders by a few percent between steps."""
    plan = build_plan("qwen2.5-0.5b", gpu="4090", method="lora", batch=1, cutoff_len=512)
    total = plan["estimate"]["total_gib"]
    free = plan["hardware"]["memory_free_gib"]
    assert plan["recommendation"]["fits"] is (total <= free * 0.95)
    assert plan["recommendation"]["fits"] is True


def test_fsdp_without_accumulation_frees_gradients_before_the_next_forward() -> None:
    cfg = TrainConfig(method="full", seq_len=4096, batch_size=2, gradient_checkpointing=True,
                      n_gpus=2, parallel="fsdp", optimizer="adamw_fused")  # fmt: skip
    no_accum = estimate(LLAMA_1B, cfg)
    accum = estimate(LLAMA_1B, cfg.replace(grad_accum=4))
    ddp = estimate(LLAMA_1B, cfg.replace(parallel="ddp"))
    assert accum.allocated_gib > no_accum.allocated_gib
    assert ddp.breakdown_gib["gradients"] > 0


def test_fsdp_gathers_the_root_unit_and_one_layer_at_their_stored_width() -> None:
    """FSDP never reshards its root unit (embeddings, lm_head, final norm) after forward,
    and gathers the decoder layer being computed: QLoRA's layer at its 4-bit width."""
    cfg = TrainConfig(method="qlora", n_gpus=2, parallel="fsdp", seq_len=512,
                      upcast_non_quantized=False)  # fmt: skip
    lora = TrainConfig(method="lora", n_gpus=2, parallel="fsdp", seq_len=512)
    c = LLAMA_1B.counts()
    root = (c.embed + c.lm_head + LLAMA_1B.hidden_size) * 2
    dequantised = max(i * o for _, i, o, _ in LLAMA_1B.linears()) * 2  # QLoRA's own buffer
    gathered_q = estimate(LLAMA_1B, cfg).breakdown_gib["workspace"] * GIB - dequantised
    gathered_l = estimate(LLAMA_1B, lora).breakdown_gib["workspace"] * GIB
    assert gathered_l == pytest.approx(root + c.per_layer * 2, rel=0.01)
    assert gathered_q - root < 0.3 * (gathered_l - root)  # ~0.52 B/param instead of 2
    one_gpu = estimate(LLAMA_1B, lora.replace(n_gpus=1))  # NO_SHARD: nothing gathered
    assert "workspace" not in one_gpu.breakdown_gib


def test_the_optimizer_step_of_sharded_fsdp_holds_no_gathered_weights() -> None:
    """optimizer.step() runs on the shards: when it is the peak, allocated is the shards,
    the gradients and the step's temporary, nothing gathered (fms Mistral-7B full, 2 GPUs:
    33.74 GiB measured)."""
    cfg = TrainConfig(method="full", seq_len=4096, batch_size=2, gradient_checkpointing=True,
                      n_gpus=2, parallel="fsdp", optimizer="adamw", attn="flash")  # fmt: skip
    est = estimate(MISTRAL_7B, cfg)
    assert est.peak_phase == "optimizer" and "workspace" not in est.breakdown_gib
    parts = ("weights", "gradients", "optimizer", "optimizer_step")
    assert est.allocated_gib == pytest.approx(sum(est.breakdown_gib[k] for k in parts))


def test_sharded_fsdp_recomputes_the_last_layer_beside_the_loss_buffers() -> None:
    """Over several ranks the loss's fp32 buffers are still held when the last layer is
    recomputed: the spike is their sum, not the larger of the two (one rank: the larger)."""
    cfg = TrainConfig(method="lora", seq_len=4096, batch_size=2, gradient_checkpointing=True,
                      n_gpus=2, parallel="fsdp", attn="flash", lora_dropout=0.0)  # fmt: skip
    m, tokens = MISTRAL_7B, 2 * 4096
    recompute = tokens * layer_activation_bytes(m, cfg, trainable_layer=True)
    loss_fp32 = tokens * (12 * m.vocab_size + (4 + 2) * m.hidden_size)
    residuals = tokens * m.num_hidden_layers * 2 * m.hidden_size
    sharded = estimate(m, cfg).breakdown_gib
    assert sharded["activations"] * GIB == pytest.approx(residuals + recompute, rel=1e-6)
    assert sharded["logits"] * GIB == pytest.approx(loss_fp32, rel=1e-6)
    alone = estimate(m, cfg.replace(n_gpus=1)).breakdown_gib  # the logits spike alone
    assert alone["activations"] * GIB == pytest.approx(residuals, rel=1e-6)
    assert alone["logits"] * GIB == pytest.approx(loss_fp32, rel=1e-6)


def test_sharded_fsdp_reserves_forward_and_step_memory_side_by_side() -> None:
    """The step's gradients come out of the reduce-scatter stream, which cannot reuse the
    blocks forward left in the cache: reserved holds both phases (fms Mistral-7B full,
    2 GPUs, nvidia-smi 43.3 GiB at batch 2, 52.3 at batch 4 for the same 33.7 allocated)."""
    cfg = TrainConfig(method="full", seq_len=4096, batch_size=2, gradient_checkpointing=True,
                      n_gpus=2, parallel="fsdp", optimizer="adamw", attn="flash")  # fmt: skip
    small, big = estimate(MISTRAL_7B, cfg), estimate(MISTRAL_7B, cfg.replace(batch_size=4))
    assert small.peak_phase == "optimizer"
    assert big.reserved_gib - small.reserved_gib > 2 * (big.allocated_gib - small.allocated_gib)
    step = sum(small.breakdown_gib[k] for k in ("gradients", "optimizer_step"))
    resident = small.breakdown_gib["weights"] + small.breakdown_gib["optimizer"]
    assert small.reserved_gib > resident + step * (1 + overhead.CHURN_FRAGMENTATION)


def test_plan_cli_takes_module_targets_dropout_accumulation_and_liger(cli) -> None:
    args = ("plan", "-m", "llama-3.1-8b", "--gpu", "4090", "--method", "lora", "--json")
    code, out, err = cli(*args, "--targets", "gate_proj,up_proj,down_proj", "--dropout", "0")
    assert code == 0, err
    mlp = json.loads(out)
    _, out, _ = cli(*args, "--targets", "all", "--dropout", "0")
    every = json.loads(out)
    assert mlp["recommendation"]["targets"] == ["gate_proj", "up_proj", "down_proj"]
    assert mlp["estimate"]["trainable_params"] < every["estimate"]["trainable_params"]
    _, out, _ = cli(*args, "--dropout", "0.1")
    dropped = json.loads(out)
    assert dropped["estimate"]["allocated_gib"] > every["estimate"]["allocated_gib"]
    _, out, _ = cli(*args, "--dropout", "0", "--grad-accum", "8")
    assert json.loads(out)["recommendation"]["grad_accum"] == 8
    code, _, err = cli(*args, "--liger")
    assert code == 0, err


def test_sharding_splits_4bit_codes_but_not_their_quantisation_constants() -> None:
    """bitsandbytes keeps NF4 absmax blocks in ``quant_state`` (not a parameter): FSDP
    shards the packed codes and every rank keeps all the constants."""
    from tunetui.planner.estimator import NF4_BYTES

    cfg = TrainConfig(method="qlora", seq_len=512, upcast_non_quantized=False)
    one = estimate(MISTRAL_7B, cfg).breakdown_gib["weights"] * GIB
    two = estimate(MISTRAL_7B, cfg.replace(n_gpus=2, parallel="fsdp"))
    constants = MISTRAL_7B.counts().linear * (NF4_BYTES - 0.5)
    assert two.breakdown_gib["weights"] * GIB == pytest.approx((one - constants) / 2 + constants)
