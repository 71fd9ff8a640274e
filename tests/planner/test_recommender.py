"""Recommender choices for a few GPU/model pairs, and the shape of its answer."""

from __future__ import annotations

import pytest
from tunetui.planner.models import CATALOG
from tunetui.planner.recommender import GPU_COUNTS, SHARDED, TARGET_FRACTION, recommend

RTX_4090_GIB = 23.99
A100_80_GIB = 79.25


def test_8b_on_24gb_never_full() -> None:
    rec = recommend(CATALOG["llama-3.1-8b"], RTX_4090_GIB, seq_len=2048)
    best = rec.best
    assert best is not None and best.cfg.method != "full"
    assert best.cfg.method == "qlora" or (
        best.cfg.method == "lora" and best.cfg.gradient_checkpointing
    )
    assert best.vram_fraction <= TARGET_FRACTION


def test_half_b_on_80gb_full_or_plain_lora() -> None:
    best = recommend(CATALOG["qwen2.5-0.5b"], A100_80_GIB, seq_len=1024).best
    assert best is not None
    assert best.cfg.method in ("full", "lora") and not best.cfg.gradient_checkpointing


def test_70b_on_24gb_nothing_fits_and_says_what_would() -> None:
    rec = recommend(CATALOG["llama-3.1-70b"], RTX_4090_GIB, seq_len=1024)
    assert rec.best is None and rec.alternatives == []
    assert rec.suggestion and ("GPUs" in rec.suggestion or "--model" in rec.suggestion)


@pytest.mark.parametrize("effective", [1, 16, 64])
def test_grad_accum_keeps_the_effective_batch(effective: int) -> None:
    best = recommend(CATALOG["llama-3.2-1b"], RTX_4090_GIB, effective_batch=effective).best
    assert best is not None
    assert best.cfg.batch_size * best.grad_accum >= effective
    assert best.cfg.batch_size <= effective


def test_reasons_and_alternatives() -> None:
    rec = recommend(CATALOG["llama-3.1-8b"], A100_80_GIB, seq_len=2048)
    assert rec.best is not None
    d = rec.best.to_dict()
    # The recommendation speaks the option vocabulary (tunetui.options), like the recipe.
    for key in ("method", "bits", "rank", "batch", "grad_accum", "cutoff_len",
                "grad_ckpt", "optim", "fits", "vram_fraction"):  # fmt: skip
        assert key in d
    assert {"method", "batch", "grad_ckpt", "cutoff_len"} <= set(d["reasons"])
    assert rec.alternatives and all(a.fits for a in rec.alternatives)
    assert all(a.relative_speed > 0 for a in rec.alternatives)


def test_shorter_sequence_when_only_that_fits() -> None:
    rec = recommend(CATALOG["llama-3.1-8b"], 12.0, seq_len=16384)
    assert rec.best is not None and rec.best.cfg.seq_len < 16384
    assert "shortened" in rec.best.reasons["cutoff_len"]


def test_nothing_fits_suggests_a_smaller_model() -> None:
    rec = recommend(CATALOG["llama-3.1-8b"], 6.0, seq_len=16384)
    assert rec.best is None and "--model llama-3.2" in (rec.suggestion or "")


def test_preference_stage_costs_more_than_sft() -> None:
    model = CATALOG["qwen2.5-1.5b"]
    sft = recommend(model, RTX_4090_GIB, stage="sft").best
    dpo = recommend(model, RTX_4090_GIB, stage="dpo").best
    assert sft is not None and dpo is not None
    assert (dpo.cfg.method, dpo.cfg.batch_size) != (sft.cfg.method, sft.cfg.batch_size) or (
        dpo.estimate.total_gib > sft.estimate.total_gib
    )


def test_cpu_never_recommends_qlora() -> None:
    best = recommend(CATALOG["smollm2-135m"], 8.0, device="cpu", bf16=False).best
    assert best is not None and best.cfg.method != "qlora" and best.cfg.precision == "fp32"


def test_on_a_cpu_nothing_suggests_more_gpus() -> None:
    """A 72B job on a CPU: the way out is a GPU of the catalog, never "over 4 GPUs"."""
    from tunetui.planner.plan import build_plan

    plan = build_plan("qwen2.5-72b", gpu="cpu")
    assert "GPUs" not in plan["suggestion"] and "--gpus" not in plan["suggestion"]
    assert "on a GPU, QLoRA fits on one" in plan["suggestion"] and "--gpu " in plan["suggestion"]


# ------------------------------------------------------------------ several GPUs (issue 14)


def test_full_rung_on_several_gpus_takes_the_least_communicating_strategy_that_fits() -> None:
    """1B full on 2 x 16 GiB: a DDP replica does not fit, ZeRO-2 (same traffic) does."""
    best = recommend(CATALOG["llama-3.2-1b"], 16.0, n_gpus=2).best
    assert best is not None and best.cfg.method == "full"
    assert (best.cfg.parallel, best.cfg.n_gpus) == ("zero2", 2)
    assert set(best.strategy_gib) == {"ddp"} and best.strategy_gib["ddp"] > 16.0 * TARGET_FRACTION
    assert (
        best.reasons["parallel"].startswith("zero2 over 2 GPUs")
        and "ddp needs" in (best.reasons["parallel"])
    )


def test_full_rung_keeps_ddp_when_a_replica_fits() -> None:
    best = recommend(CATALOG["llama-3.2-1b"], A100_80_GIB, n_gpus=8).best
    assert best is not None and (best.cfg.method, best.cfg.parallel) == ("full", "ddp")
    assert best.strategy_gib == {}


def test_recommendation_names_strategy_and_count_with_option_names() -> None:
    from tunetui.options import BY_NAME

    d = recommend(CATALOG["llama-3.1-8b"], RTX_4090_GIB, n_gpus=4).best.to_dict()
    assert {"parallel", "gpus"} <= set(d) and {"parallel", "gpus"} <= set(BY_NAME)
    assert d["gpus"] == 4 and d["parallel"] in BY_NAME["parallel"].choices
    assert "n_gpus" not in d


def test_70b_on_one_48gb_proposes_a_gpu_count_and_strategy_that_fit() -> None:
    """Nothing fits one L40S-size GPU; the proposal is the fewest such GPUs that fit, with
    the strategy, at the asked length, its figure per GPU, and its flags in the suggestion."""
    free = 44.99
    rec = recommend(CATALOG["llama-3.1-70b"], free, seq_len=1024)
    proposal = rec.proposal
    assert rec.best is None and proposal is not None
    assert proposal.fits and proposal.cfg.seq_len == 1024
    assert proposal.cfg.n_gpus in GPU_COUNTS and proposal.cfg.parallel in SHARDED
    assert proposal.estimate.total_gib <= free * TARGET_FRACTION
    fewer = [n for n in GPU_COUNTS if n < proposal.cfg.n_gpus]
    for n in fewer:  # the fewest: no smaller count fits at this length
        best = recommend(CATALOG["llama-3.1-70b"], free, n_gpus=n, propose=False).best
        assert best is None or best.cfg.seq_len < 1024
    flags = f"--parallel {proposal.cfg.parallel} --gpus {proposal.cfg.n_gpus}"
    assert flags in (rec.suggestion or "") and "GiB per GPU" in (rec.suggestion or "")


def test_full_8b_on_one_24gb_is_proposed_sharded_over_4() -> None:
    """The issue's example: a full fine-tune of 8B fits 4 x 24 GB once sharded."""
    from tunetui.planner.plan import build_plan

    plan = build_plan("llama-3.1-8b", gpu="4090", method="full")
    proposal = plan["proposal"]
    assert plan["recommendation"]["fits"] is False
    assert (proposal["gpus"], proposal["method"]) == (4, "full")
    assert proposal["parallel"] in SHARDED
    assert proposal["fits"] and proposal["total_gib"] <= 23.99 * TARGET_FRACTION
    assert "ddp needs" in proposal["reasons"]["parallel"]
    words = f"full fine-tune + grad ckpt of 8.0B: {proposal['parallel']} over 4 x 24 GiB GPUs"
    assert plan["suggestion"].startswith(words)


def test_asked_strategy_is_tried_first_in_the_proposal() -> None:
    from tunetui.planner.plan import build_plan

    plan = build_plan("llama-3.1-8b", gpu="4090", gpus=2, method="full", batch=1, parallel="zero3")
    assert plan["recommendation"]["fits"] is False
    assert (plan["proposal"]["parallel"], plan["proposal"]["gpus"]) == ("zero3", 4)
    # whatever the batch, another strategy is named only once the asked one did not fit there
    for batch in (2, 4):
        plan = build_plan(
            "llama-3.1-8b", gpu="4090", gpus=2, method="full", batch=batch, parallel="zero3"
        )
        proposal = plan["proposal"]
        assert proposal["parallel"] == "zero3" or "zero3 needs" in proposal["reasons"]["parallel"]


def test_no_proposal_when_the_asked_set_up_fits() -> None:
    from tunetui.planner.plan import build_plan

    plan = build_plan("llama-3.1-8b", gpu="h100", gpus=8, method="full", parallel="zero3")
    assert plan["recommendation"]["fits"] is True and plan["proposal"] is None


def test_grad_ckpt_given_off_is_kept_off_in_the_proposal() -> None:
    from tunetui.planner.plan import build_plan

    plan = build_plan("llama-3.1-8b", gpu="4090", method="full", batch=1, grad_ckpt=False)
    assert plan["proposal"]["grad_ckpt"] is False and plan["proposal"]["gpus"] == 8


def test_a_batch_not_chosen_shrinks_before_more_gpus_are_proposed() -> None:
    """70B QLoRA on 4 x 24 GB under ZeRO-3 at 1536 tokens: the default batch does not fit,
    a smaller one does; proposing more GPUs would be wrong when the user never chose the
    batch."""
    from tunetui.planner.plan import build_plan

    asked = dict(
        gpu="4090", gpus=4, method="qlora", parallel="zero3", grad_ckpt=True, cutoff_len=1536
    )
    plan = build_plan("llama-3.1-70b", **asked)
    assert plan["recommendation"]["fits"] is False
    proposal, asked_batch = plan["proposal"], plan["recommendation"]["batch"]
    assert proposal["gpus"] == 4 and proposal["batch"] < asked_batch
    assert f"--batch {proposal['batch']}" in plan["suggestion"]
    chosen = build_plan("llama-3.1-70b", batch=asked_batch, **asked)
    assert chosen["proposal"] is None or chosen["proposal"]["gpus"] > 4
