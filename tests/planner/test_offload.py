"""`offload: cpu` (ZeRO-3 / FSDP): per-GPU memory falls, host RAM is counted and checked."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tunetui.planner.errors import UserError
from tunetui.planner.plan import Hardware, _host_shortfall, build_plan

JOB = dict(gpu="a100-80g", gpus=8, method="full", parallel="zero3", grad_ckpt=True)


def test_offload_moves_the_shards_to_host_ram() -> None:
    kept = build_plan("llama-3.1-70b", **JOB)
    moved = build_plan("llama-3.1-70b", offload="cpu", **JOB)
    assert kept["recommendation"]["fits"] is False and moved["recommendation"]["fits"] is True
    assert moved["estimate"]["total_gib"] < kept["estimate"]["total_gib"] / 4
    # 70.6B params x (bf16 weights + bf16 grads + two bf16 AdamW states) over the 8 ranks
    assert moved["estimate"]["host_offload_gib"] == pytest.approx(70.55e9 * 8 / 2**30, rel=0.02)
    assert kept["estimate"]["host_offload_gib"] == 0.0
    assert any("host RAM per machine" in n for n in moved["estimate"]["notes"])


def test_offload_without_a_sharded_strategy_is_one_line() -> None:
    with pytest.raises(UserError, match="needs --parallel zero3 or fsdp"):
        build_plan("llama-3.1-8b", gpu="a100-80g", gpus=8, parallel="ddp", offload="cpu")


def test_the_host_must_hold_what_is_offloaded_on_the_machine_probed(monkeypatch) -> None:
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=64 * 2**30))
    est = SimpleNamespace(host_offload_gib=500.0, notes=[])
    probed = Hardware("cuda", "A100", "probe", 79.0, 80.0, n_gpus=8)
    assert _host_shortfall(est, probed) == "host RAM: 64.0 GiB available, offload needs 500.0"
    assert est.notes == []  # a question, not a side effect: the caller adds the note
    catalog = Hardware("cuda", "A100", "catalog", 79.0, 80.0, n_gpus=8)
    assert _host_shortfall(est, catalog) is None  # another machine's RAM is unknown


def test_a_plan_that_offloads_more_than_this_host_holds_says_so(monkeypatch) -> None:
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=64 * 2**30))
    a100 = SimpleNamespace(name="NVIDIA A100-SXM4-80GB", memory_total_gib=79.2,
                           memory_free_gib=79.0, plan_memory_gib=79.2,
                           compute_capability=(8, 0), bf16=True, mig_mode=False,
                           mig_devices=[])  # fmt: skip
    probed = SimpleNamespace(gpus=[a100] * 8, host=None, no_gpu_reason=None)
    job = {**JOB, "gpu": "auto"}
    plan = build_plan("llama-3.1-70b", offload="cpu", probe_result=probed, **job)
    assert plan["recommendation"]["fits"] is False
    assert any(n.startswith("host RAM: 64.0 GiB available") for n in plan["estimate"]["notes"])


def test_cpu_processes_share_the_host_s_ram() -> None:
    """`--gpu cpu --gpus 2`: two gloo ranks, each with a whole copy (accelerate runs every
    strategy as DDP on CPU); the figures stay per process, the verdict counts both."""
    one = build_plan("smollm2-135m", gpu="cpu", gpus=1, parallel="fsdp", method="full")
    two = build_plan("smollm2-135m", gpu="cpu", gpus=2, parallel="fsdp", method="full")
    assert two["hardware"]["processes"] == 2 and one["hardware"]["processes"] == 1
    per_process = two["estimate"]["total_gib"]
    assert per_process == one["estimate"]["total_gib"]
    assert any(n.startswith(f"2 CPU processes share this RAM: 2 x {per_process:.1f} GiB")
               and "fsdp shards only on GPUs" in n for n in two["estimate"]["notes"])  # fmt: skip
    free = two["hardware"]["memory_free_gib"]
    assert two["recommendation"]["over_by_gib"] == pytest.approx(
        max(0.0, 2 * per_process - free), abs=0.01
    )
    share = two["recommendation"]["vram_fraction"]  # of the free RAM, for both processes
    assert share == pytest.approx(2 * per_process / free, abs=0.002)
