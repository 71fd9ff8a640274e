"""`tunetui plan` and `tunetui models`: JSON keys, human output, one-line errors (exit 2)."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import pytest
from tunetui.planner.plan import build_plan

PLAN_KEYS = {"hardware", "model", "estimate", "recommendation", "alternatives", "time"}
REC_KEYS = {"method", "bits", "rank", "batch", "grad_accum", "cutoff_len",
            "grad_ckpt", "optim", "fits", "vram_fraction"}  # fmt: skip


def test_plan_json_keys(cli) -> None:
    code, out, err = cli("plan", "--model", "llama-3.1-8b", "--gpu", "4090", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert set(plan) >= PLAN_KEYS
    assert {"allocated_gib", "reserved_gib", "total_gib", "breakdown_gib"} <= set(plan["estimate"])
    assert set(plan["recommendation"]) >= REC_KEYS
    assert plan["recommendation"]["method"] != "full"
    assert plan["time"]["tokens_per_s"][0] > 0


def test_explicit_flags_estimate_that_config(cli) -> None:
    code, out, _ = cli("plan", "-m", "llama-3.1-8b", "--gpu", "4090", "--method", "full",
                       "--batch", "2", "--json")  # fmt: skip
    plan = json.loads(out)
    assert code == 0 and plan["mode"] == "estimate"
    rec = plan["recommendation"]
    assert rec["method"] == "full" and rec["batch"] == 2
    assert rec["fits"] is False and rec["over_by_gib"] > 30
    assert plan["alternatives"] and plan["suggestion"]


def test_human_output_fits_80_columns(cli) -> None:
    code, out, _ = cli("plan", "--model", "qwen2.5-7b", "--gpu", "a100-80g")
    assert code == 0
    assert "Peak VRAM" in out and "Recommended settings" in out and "tokens/s" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_params_alone_plans_a_generic_shape(cli) -> None:
    # It used to plan for the default smollm2-135m silently.
    code, out, err = cli("plan", "--params", "7B", "--gpu", "4090", "--json")
    assert code == 0, err
    model = json.loads(out)["model"]
    assert model["approx"] and model["layers"] == 32 and abs(model["params"] / 7e9 - 1) < 0.01
    assert "7B" in model["id"]
    assert build_plan(params="7B", gpu="4090")["model"]["approx"]  # the Python API too


PLANS = [
    {"model": "llama-3.1-8b", "gpu": "4090", "dataset_tokens": 123_456_789},
    {"model": "llama-3.1-8b", "gpu": "4090", "method": "full", "batch": 2},
    {"model": "qwen3-30b-a3b", "gpu": "4090"},
    {"model": "qwen2.5-7b", "gpu": "a100-80g"},
    {"model": "llama-3.1-70b", "gpu": "h100", "gpus": 8, "parallel": "zero3"},
    {"model": None, "params": "7B", "gpu": "t4"},
    {"model": "llama-3.1-8b", "gpu": "cpu"},
    {"model": "llama-3.1-8b", "gpu": "rtx-4090", "method": "full"},  # a proposal
    {"model": "llama-3.1-70b", "gpu": "l40s"},  # a proposal, recommended
]


@pytest.mark.parametrize("kwargs", PLANS, ids=lambda k: f"{k['model']}-{k['gpu']}")
def test_render_fits_80_columns_without_lone_words(kwargs) -> None:
    # "fits (87% of free); torch allocated 19.4, reserved 20.5 GiB" used to leave "GiB" alone.
    from rich.console import Console
    from tunetui.planner.render import render_plan

    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    render_plan(build_plan(**kwargs), console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    for prev, line in zip(lines, lines[1:], strict=False):
        words = line.split()
        lone = len(words) == 1 and not set(words[0]) <= set("─█·")
        assert not (lone and prev.strip()), f"lone word wrapped: {prev!r} / {line!r}"


def test_no_gpu_plans_for_cpu(cli) -> None:
    code, out, _ = cli("plan", "--gpu", "auto")
    assert code == 0
    assert "no NVIDIA GPU found" in out and "--gpu NAME" in out


def test_probed_gpu_is_used() -> None:
    gpu = SimpleNamespace(name="NVIDIA H100 80GB HBM3", memory_total_gib=79.6,
                          memory_free_gib=70.0, plan_memory_gib=79.6,
                          compute_capability=(9, 0), bf16=True, mig_mode=False,
                          mig_devices=[])  # fmt: skip
    probed = SimpleNamespace(gpus=[gpu], host=None, no_gpu_reason=None)
    plan = build_plan("llama-3.1-8b", gpu="auto", probe_result=probed)
    assert plan["hardware"]["source"] == "probe"
    assert plan["hardware"]["memory_free_gib"] == 70.0
    assert plan["recommendation"]["vram_fraction"] <= 0.9


@pytest.mark.parametrize(
    "args,needle",
    [
        (("--model", "llama-3.1-8"), "Did you mean 'llama-3.1-8b'"),
        (("--gpu", "rtx4909"), "unknown GPU"),
        (("--gpu", "4090", "--method", "full", "--bits", "4"), "--bits 4"),
        (("--gpu", "4090", "--rank", "0"), "--rank"),
        (("--gpu", "4090", "--seq", "0"), "--cutoff-len"),  # --seq is its alias
        (("--gpu", "4090", "--method", "lorra"), "Did you mean 'lora'"),
        (("--gpu", "4090", "--stage", "dpp"), "Did you mean 'dpo'"),
        (("--gpu", "4090", "--optim", "adam"), "Did you mean 'adamw'"),
        (("--model", "/nonexistent/config.json"), "model path '/nonexistent/config.json' does"),
        (("--model", "/nonexistent"), "model path '/nonexistent' does not exist"),
        (("--params", "7Q"), "cannot read --params '7Q'"),
        (("--model", "llama-3.1-8b", "--params", "7Q"), "cannot read --params '7Q'"),
        (("--gpu", "t4", "--precision", "bf16"), "no native bf16"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, needle: str) -> None:
    code, out, err = cli("plan", *args)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_models_json_and_table(cli) -> None:
    code, out, _ = cli("models", "--json")
    rows = json.loads(out)["models"]
    assert code == 0 and len(rows) >= 25
    assert any(r["moe"] for r in rows)
    code, out, _ = cli("models")
    assert code == 0 and "llama-3.1-8b" in out


# ------------------------------------------------------------- --gpus auto (issue 14)


def _gpu(free: float, name: str = "NVIDIA H100 80GB HBM3", total: float = 79.6):
    return SimpleNamespace(name=name, memory_total_gib=total, memory_free_gib=free,
                           plan_memory_gib=total, compute_capability=(9, 0), bf16=True,
                           mig_mode=False, mig_devices=[])  # fmt: skip


def _probed(*gpus: SimpleNamespace, reason: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(gpus=list(gpus), host=None, no_gpu_reason=reason)


def test_gpus_auto_uses_every_probed_gpu_sized_by_the_fullest(cli, monkeypatch) -> None:
    probed = _probed(_gpu(79.0), _gpu(79.0), _gpu(60.0), _gpu(79.0))
    monkeypatch.setattr("tunetui.planner.probe.probe", lambda *a, **k: probed)
    code, out, err = cli("plan", "-m", "llama-3.1-70b", "--gpus", "auto", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["hardware"]["n_gpus"] == 4 and plan["hardware"]["memory_free_gib"] == 60.0
    assert plan["recommendation"]["gpus"] == 4 and plan["recommendation"]["parallel"] != "none"
    assert "fullest of the 4 GPUs" in plan["hardware"]["note"]


def test_gpus_auto_counts_only_gpus_like_the_first() -> None:
    probed = _probed(_gpu(79.0), _gpu(79.0), _gpu(22.0, "NVIDIA A10", 22.5))
    hw = build_plan("llama-3.1-8b", gpus="auto", probe_result=probed)["hardware"]
    assert hw["n_gpus"] == 2 and hw["memory_free_gib"] == 79.0
    assert "1 other GPU(s) differ" in hw["note"]


def test_gpus_auto_without_a_gpu_plans_for_the_cpu_and_says_what_to_pass(cli, monkeypatch) -> None:
    probed = _probed(reason="NVML library not found")
    monkeypatch.setattr("tunetui.planner.probe.probe", lambda *a, **k: probed)
    code, out, err = cli("plan", "--gpus", "auto", "--json")
    assert code == 0, err
    hw = json.loads(out)["hardware"]
    assert hw["device"] == "cpu" and hw["n_gpus"] == 1
    assert "no GPU was probed (NVML library not found)" in hw["note"]
    assert "--gpu NAME --gpus N" in hw["note"]


def test_gpus_auto_on_this_gpu_less_machine_is_a_cpu_plan(cli) -> None:
    code, out, _ = cli("plan", "--gpus", "auto")
    assert code == 0 and "--gpus auto: no GPU was probed" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (("--gpus", "two"), "--gpus must be a number of GPUs or auto, got 'two'"),
        (("--gpus", "0"), "--gpus must be a number of GPUs or auto, got '0'"),
        (("--gpu", "h100", "--gpus", "auto"), "Pass how many it has: --gpu h100 --gpus 8"),
    ],
)
def test_bad_gpus_is_one_line_exit_2(cli, args, needle: str) -> None:
    code, _, err = cli("plan", *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_per_gpu_figures_shrink_with_sharding(cli) -> None:
    """8B full on 8 x 80 GB: DDP holds a replica, ZeRO-2 shards states, ZeRO-3/FSDP all."""
    totals, terms = {}, {}
    for parallel in ("ddp", "zero2", "zero3", "fsdp"):
        code, out, err = cli("plan", "-m", "llama-3.1-8b", "--gpu", "h100", "--gpus", "8",
                             "--method", "full", "--parallel", parallel, "--json")  # fmt: skip
        assert code == 0, err
        plan = json.loads(out)
        assert plan["recommendation"]["parallel"] == parallel
        assert plan["recommendation"]["gpus"] == 8
        totals[parallel] = plan["estimate"]["total_gib"]
        terms[parallel] = plan["estimate"]["breakdown_gib"]
    assert totals["ddp"] > totals["zero2"] > max(totals["zero3"], totals["fsdp"])
    assert terms["zero2"]["weights"] == terms["ddp"]["weights"]
    assert terms["zero2"]["optimizer"] == pytest.approx(terms["ddp"]["optimizer"] / 8, rel=0.01)
    for sharded in ("zero3", "fsdp"):
        assert terms[sharded]["weights"] == pytest.approx(terms["ddp"]["weights"] / 8, rel=0.01)


def test_the_human_plan_lists_the_strategy_as_a_setting(cli) -> None:
    code, out, err = cli("plan", "-m", "llama-3.1-8b", "--gpu", "h100", "--gpus", "8",
                         "--method", "full", "--parallel", "zero3")  # fmt: skip
    assert code == 0, err
    assert re.search(r"parallel\s+zero3 x8", out)
