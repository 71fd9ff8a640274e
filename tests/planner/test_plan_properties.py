"""Properties of the plan over the whole catalog: it never crashes on a machine without a GPU
(people and scripts), and more memory never buys worse advice."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from tunetui.planner import gpus
from tunetui.planner.models import CATALOG
from tunetui.planner.plan import build_plan
from tunetui.planner.recommender import _rungs
from tunetui.planner.render import render_plan


@pytest.mark.parametrize("model", sorted(CATALOG))
def test_every_catalog_model_plans_for_cpu_in_human_and_json_output(model: str) -> None:
    """`tunetui plan --model qwen2.5-72b --gpu cpu` used to end in ZeroDivisionError: the
    slow end of the throughput range rounded to 0.0 and the renderer divided by it."""
    plan = build_plan(model, gpu="cpu")
    assert json.loads(json.dumps(plan))["time"]["tokens_per_s"][0] > 0
    out = io.StringIO()
    render_plan(plan, Console(file=out, width=80))
    assert "tokens/s" in out.getvalue()


def _rank(plan: dict) -> tuple[int, int, int, int]:
    """Smaller is better: does it fit, how frugal a rung (ladder position), batch, length."""
    rec = plan["recommendation"]
    labels = [label for label, _ in _rungs(CATALOG[plan["model"]["id"]], "cuda", 1)]
    base = rec["label"].split(",")[0].split(" (")[0]
    rung = labels.index(base) if base in labels else len(labels)
    return (0 if rec["fits"] else 1, rung, -rec["batch"], -rec["cutoff_len"])


def _pairs() -> list[tuple[gpus.GPUSpec, gpus.GPUSpec]]:
    """(smaller, larger) GPU pairs: the larger has at least as much memory and the same bf16
    support. Stronger than "same or newer architecture": an older card with more memory
    (P100 16GB vs V100 16GB) must not be charged a CUDA context that outweighs it."""
    cards = sorted(gpus.CATALOG, key=lambda g: (g.memory_gib, g.compute_capability))
    return [
        (a, b)
        for i, a in enumerate(cards)
        for b in cards[i + 1 :]
        if b.memory_gib >= a.memory_gib and b.bf16 == a.bf16
    ]


@pytest.mark.parametrize("model", sorted(CATALOG))
def test_more_memory_never_gets_a_strictly_smaller_plan(model: str) -> None:
    """The P100 16GB used to get worse advice than the V100 16GB: cuda_context_gib had no
    Pascal entry and charged it the unknown-architecture default (phi-4: QLoRA at 512
    tokens on the P100, at 1024 on the V100)."""
    plans = {g.key: build_plan(model, gpu=g.key) for g in gpus.CATALOG}
    worse = [
        f"{b.key} {_rank(plans[b.key])} < {a.key} {_rank(plans[a.key])}"
        for a, b in _pairs()
        if _rank(plans[b.key]) > _rank(plans[a.key])
    ]
    assert worse == []


def test_a_proposal_always_fits_and_only_comes_when_the_plan_does_not() -> None:
    """Over the catalog on one 24 GB GPU, recommended and full fine-tuning: a proposal (GPU
    count + strategy) is made only for a job that does not fit, always fits itself on GPUs
    of the same memory, and its flags are in the suggestion the user reads."""
    from tunetui.planner.recommender import GPU_COUNTS, TARGET_FRACTION

    plans = [build_plan(m, gpu="4090", method=method)
             for m in sorted(CATALOG) for method in (None, "full")]  # fmt: skip
    assert all(p["proposal"] is None for p in plans if p["recommendation"]["fits"])
    proposed = [p for p in plans if p["proposal"] is not None]
    assert len(proposed) >= 10  # 8B+ full fine-tunes, 70B recommendations
    for plan in proposed:
        proposal = plan["proposal"]
        assert proposal["fits"] and proposal["gpus"] in GPU_COUNTS
        assert proposal["parallel"] != "none"
        assert proposal["total_gib"] <= plan["hardware"]["memory_free_gib"] * TARGET_FRACTION
        assert f"--parallel {proposal['parallel']} --gpus {proposal['gpus']}" in plan["suggestion"]
