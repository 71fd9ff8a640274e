"""The loss the runner computes is the loss the planner counts (trl's tiled LM head)."""

from __future__ import annotations

import dataclasses

from tunetui.planner import estimator
from tunetui.planner.models import resolve_model
from tunetui.planner.plan import loss_impl
from tunetui.planner.trainconfig import TrainConfig


def test_trl_head_stages_plan_tiles_and_the_reward_model_plans_no_head() -> None:
    assert loss_impl(None, "sft") == "tiled" and loss_impl(None, "dpo") == "tiled"
    assert loss_impl(None, "rm") == "hf"  # a score head: no vocabulary logits


def test_tiles_cost_a_fixed_buffer_not_tokens_times_vocab() -> None:
    model = resolve_model("llama-3.1-8b")
    short = TrainConfig(method="lora", seq_len=4096, batch_size=1, loss_impl="tiled")
    long = dataclasses.replace(short, batch_size=4)
    hf = dataclasses.replace(long, loss_impl="hf")

    def head(cfg: TrainConfig) -> float:
        return estimator._activations(model, cfg, cfg.batch_size * cfg.seq_len, 0)[2]

    # 4x the tokens: only per-token vectors grow (the hidden states' fp32 gradient, the final
    # norm's fp32 input and the bf16 final hidden state), 10 bytes x hidden; the tiles do not
    assert head(long) - head(short) == 3 * 4096 * 10 * model.hidden_size
    assert head(long) < head(hf) / 10


def test_cpu_tiles_are_the_small_ones_the_worker_sets() -> None:
    model = resolve_model("smollm2-135m")
    cpu = TrainConfig(method="lora", seq_len=512, batch_size=2, precision="fp32",
                      device="cpu", loss_impl="tiled")  # fmt: skip
    gpu = dataclasses.replace(cpu, device="cuda")
    assert (
        estimator._head_tiles_bytes(model, cpu, 1024)
        < estimator._head_tiles_bytes(model, gpu, 1024) / 5
    )
