"""How close is the planner to real runs? Estimate vs measured peak memory, row by row.

Reads ``bench/memory_reference.json`` (published measurements) and, when present, the CSVs a
GPU harness writes to ``bench/results/gpu_memory_*.csv``. Each row is compared with the
metric its source reports: ``max_memory_allocated`` -> ``allocated_gib``,
``max_memory_reserved`` -> ``reserved_gib``, ``nvidia_smi`` -> ``total_gib``.

    python bench/plan_accuracy.py [--json] [--reference PATH]

Targets (README): mean |error| <= 5 %, max <= 10 %, never under by more than 5 %.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.planner.estimator import TrainConfig, estimate
from tunetui.planner.models import resolve_model, spec_from_config
from tunetui.planner.stack import kbit_saves_inputs

HERE = Path(__file__).resolve().parent
METRIC_FIELD = {
    "max_memory_allocated": "allocated_gib",
    "max_memory_reserved": "reserved_gib",
    "nvidia_smi": "total_gib",
}
# compute capability by GPU name fragment, used when the GPU catalog cannot resolve a name
_CC = {"h100": (9, 0), "h200": (9, 0), "a100": (8, 0), "l40": (8, 9), "4090": (8, 9),
       "3090": (8, 6), "a10": (8, 6), "t4": (7, 5), "v100": (7, 0)}  # fmt: skip


def _compute_capability(gpu: str) -> tuple[int, int] | None:
    try:
        from tunetui.planner.gpus import resolve_gpu

        return resolve_gpu(gpu).compute_capability
    except (UserError, NotImplementedError, ImportError, AttributeError):
        low = gpu.lower()
        return next((cc for key, cc in _CC.items() if key in low), None)


# What a source's software stack did that a row's config cannot say (documented in
# planner/README.md "Accuracy"), matched on the row's source or id: fms-hf-tuning trains
# under accelerate FSDP even on one GPU, and its "baseline-peft-bnb" QLoRA runs went through
# trl < 1.0, whose SFTTrainer called peft.prepare_model_for_kbit_training (fp32 embeddings,
# norms and lm_head). The bitsandbytes version decides whether 4-bit layers keep their
# input (planner.stack.kbit_saves_inputs), never the installed one here.
SOURCE_STACK: dict[str, dict[str, Any]] = {
    "fms-acceleration": {"parallel": "fsdp", "bitsandbytes": "0.43.3"},
    "litgpt": {"bitsandbytes": "0.41.1", "fused_qkv": True},
    "baseline-peft-bnb": {"upcast_non_quantized": True},
}
# What the estimator does not model (rows are printed, but kept out of the "modelled"
# summary): GPT-BigCode (learned positions, multi-query, its 4.48 loss path) and
# torch.compile, whose fusions change which tensors autograd keeps.
UNSUPPORTED = ("gpt_bigcode",)
UNSUPPORTED_FEATURES = ("compile",)


def _stack(row: dict[str, Any]) -> dict[str, Any]:
    where = row.get("source", "") + " " + row.get("id", "")
    out: dict[str, Any] = {}
    for key, facts in SOURCE_STACK.items():
        if key in where:
            out.update(facts)
    return out


def _dropout(row: dict[str, Any]) -> float:
    cfg = row.get("config", {})
    if cfg.get("lora_dropout") is not None:
        return float(cfg["lora_dropout"])
    match = re.search(r"dropout\s*=?\s*(\d+(?:\.\d+)?)", row.get("notes", ""))
    return float(match.group(1)) if match else 0.0


def train_config(row: dict[str, Any]) -> TrainConfig:
    """Map a reference row's config (the estimator's vocabulary) onto a TrainConfig."""
    c = row["config"]
    targets = c.get("targets") or "all"
    if isinstance(targets, list):
        targets = tuple(targets)
    stack = _stack(row)
    n_gpus = int(c.get("n_gpus") or 1)
    parallel = c.get("parallel") or "none"
    if parallel == "none" and "parallel" in stack:
        parallel = stack["parallel"]
    bits = c.get("bits")
    upcast = bool(c.get("upcast_non_quantized", stack.get("upcast_non_quantized", False)))
    if n_gpus > 1 and parallel in ("fsdp", "zero3"):
        # trl's SFTTrainer never calls prepare_model_for_kbit_training on sharded QLoRA
        # (its Params4bit sit on cpu/meta when the trainer is built: `is_sharded_qlora`)
        upcast = False
    return TrainConfig(
        method=c["method"],
        bits=int(bits) if bits else None,
        lora_rank=int(c.get("lora_rank") or 16),
        targets=targets,
        lora_dropout=_dropout(row),
        batch_size=int(c["batch_size"]),
        seq_len=int(c["seq_len"]),
        gradient_checkpointing=bool(c.get("gradient_checkpointing")),
        optimizer=c.get("optimizer") or "adamw",
        precision=c.get("precision") or "bf16",
        attn=c.get("attn") or "sdpa",
        stage=c.get("stage") or "sft",
        n_gpus=n_gpus,
        parallel=parallel,
        grad_accum=int(c.get("grad_accum") or 1),
        pure_bf16=c.get("pure_bf16"),
        kbit_saves_inputs=kbit_saves_inputs(c.get("bitsandbytes", stack.get("bitsandbytes"))),
        loss_impl="chunked" if c.get("chunked_ce") else "hf",
        optimizer_in_backward=bool(c.get("optimizer_in_backward")),
        activation_offloading=bool(c.get("activation_offloading")),
        offload=c.get("offload") or "none",
        upcast_non_quantized=upcast,
        compute_capability=_compute_capability(row.get("gpu", "")),
        double_quant=bool(c.get("double_quant", True)),
        fused_qkv=bool(stack.get("fused_qkv", False)),
    )


def _model(row: dict[str, Any]):
    """The row's own published config when it has one (never the network: a Hub id that is
    not in the catalog would otherwise be looked up on the Hub), else the catalog."""
    if row.get("model_config"):
        return spec_from_config(row["model_config"], id_=row["model"])
    return resolve_model(row["model"])


_BOOL_KEYS = ("gradient_checkpointing", "pure_bf16", "compile", "chunked_ce",
              "optimizer_in_backward", "activation_offloading")  # fmt: skip
# bench/gpu_memory.py's measured columns -> the metric each one is
_HARNESS_METRICS = {"alloc_gib": "max_memory_allocated", "reserved_gib": "max_memory_reserved",
                    "nvml_gib": "nvidia_smi"}  # fmt: skip


def _csv_rows(results: Path) -> list[dict[str, Any]]:
    """Rows from the GPU harness (bench/gpu_memory.py): one per measured metric of each
    configuration that ran (``outcome == ok``); OOM/crash rows have nothing to compare."""
    rows: list[dict[str, Any]] = []
    for path in sorted(results.glob("gpu_memory_*.csv")):
        with path.open(newline="") as fh:
            for n, rec in enumerate(csv.DictReader(fh)):
                if rec.get("outcome", "ok") != "ok":
                    continue
                cfg: dict[str, Any] = {k: v for k, v in rec.items() if v not in ("", None)}
                for key in _BOOL_KEYS:
                    if key in cfg:
                        cfg[key] = str(cfg[key]).lower() in ("1", "true", "yes")
                if " " in cfg.get("targets", ""):
                    cfg["targets"] = cfg["targets"].split()
                for column, metric in _HARNESS_METRICS.items():
                    if rec.get(column) in ("", None):
                        continue
                    rows.append(
                        {
                            "id": f"{path.stem}:{n}:{rec['model']}:{column}",
                            "source": path.name,
                            "metric": metric,
                            "gpu": rec.get("gpu", ""),
                            "model": rec["model"],
                            "config": cfg,
                            "measured_gib": float(rec[column]),
                        }
                    )
    return rows


def evaluate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        est = estimate(_model(row), train_config(row))
        field = METRIC_FIELD[row["metric"]]
        predicted = getattr(est, field)
        measured = float(row["measured_gib"])
        family = (row.get("model_config") or {}).get("model_type", "")
        features = [f for f in UNSUPPORTED_FEATURES if row["config"].get(f)]
        out.append(
            {
                "id": row["id"],
                "source": row.get("source", ""),
                "supported": family not in UNSUPPORTED and not features,
                "calibration": bool(row.get("calibration")),
                "metric": field,
                "measured_gib": round(measured, 2),
                "estimate_gib": round(predicted, 2),
                "error_pct": round((predicted - measured) / measured * 100, 1),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=HERE / "memory_reference.json")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = json.loads(args.reference.read_text())["rows"] if args.reference.exists() else []
    rows += _csv_rows(HERE / "results")
    if not rows:
        print("no reference rows found", file=sys.stderr)
        return 1
    results = evaluate(rows)
    modelled = [r for r in results if r["supported"]]
    summary = {
        "all": _summary(results),
        "modelled": _summary(modelled),
        "calibrated": _summary([r for r in modelled if r["calibration"]]),
        "held-out": _summary([r for r in modelled if not r["calibration"]]),
        # what the formula predicts (torch's own count) apart from what the allocator's
        # waste and the driver add on top (nvidia-smi)
        "held-out torch": _summary(
            [r for r in modelled if not r["calibration"] and r["metric"] != "total_gib"]
        ),
        "held-out smi": _summary(
            [r for r in modelled if not r["calibration"] and r["metric"] == "total_gib"]
        ),
    }
    # each source is its own software stack: where the planner is right, and where it is not
    sources = sorted({r["source"] for r in modelled if not r["calibration"]})
    summary["by source"] = {
        src: _summary([r for r in modelled if not r["calibration"] and r["source"] == src])
        for src in sources
    }
    ooms = check_ooms(json.loads(args.reference.read_text()).get("ooms", []))
    summary["ooms_called_fits"] = [o["id"] for o in ooms if o["fits"]]
    if args.json:
        print(json.dumps({"results": results, "ooms": ooms, "summary": summary}, indent=2))
        return 0
    print(f"{'row':58s} {'metric':13s} {'measured':>8s} {'estimate':>8s} {'error':>7s}")
    for r in results:
        print(
            f"{r['id'][:58]:58s} {r['metric']:13s} {r['measured_gib']:8.2f} "
            f"{r['estimate_gib']:8.2f} {r['error_pct']:+6.1f}%"
            + ("" if r["supported"] else " *")
            + (" c" if r["calibration"] else "")
        )
    print()
    for name, s in summary.items():
        if name in ("ooms_called_fits", "by source"):
            continue
        if s["rows"]:
            print(
                f"{name:14s} {s['rows']:2d} rows: mean |error| {s['mean_abs_error_pct']}%, "
                f"max |error| {s['max_abs_error_pct']}%, worst under-estimate "
                f"{s['worst_under_pct']}%"
            )
    print("held-out rows by source:")
    for src, s in summary["by source"].items():
        print(
            f"  {s['rows']:2d} rows: mean |error| {s['mean_abs_error_pct']}%, max "
            f"{s['max_abs_error_pct']}%, worst under {s['worst_under_pct']}%  {src}"
        )
    print(f"* not modelled: {', '.join(UNSUPPORTED)} models, {', '.join(UNSUPPORTED_FEATURES)}")
    print("c calibration row: a constant of the planner was fitted on it")
    for o in ooms:
        verdict = "called FITS (wrong)" if o["fits"] else "called does-not-fit"
        print(f"published OOM {o['id']}: planned {o['total_gib']} GiB of {o['gpu_gib']}: {verdict}")
    return 0


def check_ooms(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Published runs that ran out of memory: the plan's total against the card, with the
    same margin `tunetui plan` uses for its "fits" verdict."""
    from tunetui.planner.recommender import FIT_MARGIN

    out = []
    for row in rows:
        total = estimate(_model(row), train_config(row)).total_gib
        gpu = float(row["gpu_memory_gib"])
        out.append({"id": row["id"], "total_gib": round(total, 2), "gpu_gib": gpu,
                    "fits": total <= gpu * (1 - FIT_MARGIN)})  # fmt: skip
    return out


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    if not results:
        return {"rows": 0}
    errors = [abs(r["error_pct"]) for r in results]
    return {
        "rows": len(results),
        "mean_abs_error_pct": round(statistics.mean(errors), 1),
        "max_abs_error_pct": round(max(errors), 1),
        "worst_under_pct": round(min(0.0, min(r["error_pct"] for r in results)), 1),
    }


if __name__ == "__main__":
    sys.exit(main())
