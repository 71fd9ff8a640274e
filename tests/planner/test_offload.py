"""`offload: cpu` (ZeRO-3 / FSDP): per-GPU memory falls, host RAM is counted and checked."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tunetui.planner.errors import UserError
from tunetui.planner.plan import Hardware, _host_holds, build_plan

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
    assert _host_holds(est, probed) is False
    assert est.notes == ["host RAM: 64.0 GiB available, offload needs 500.0"]
    catalog = Hardware("cuda", "A100", "catalog", 79.0, 80.0, n_gpus=8)
    assert _host_holds(est, catalog) is True  # another machine's RAM is unknown
