"""A synthetic run directory for dashboard tests and snapshots (no clocks: fixed times)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0


def event(type_: str, t: float, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "t": T0 + t, "type": type_, **fields}


def training_events(steps: int = 30, total: int = 50) -> list[dict[str, Any]]:
    """A start, `steps` log events, GPU samples every 5 steps and one eval."""
    events = [
        event(
            "start",
            0,
            run="demo",
            stage="sft",
            method="lora",
            model="smollm2-135m",
            total_steps=total,
            num_epochs=1,
        ),
    ]
    for s in range(1, steps + 1):
        events.append(
            event(
                "log",
                s,
                step=s,
                loss=round(2.5 - 0.04 * s, 4),
                lr=2e-4 * (1 - s / total),
                epoch=s / total,
                tokens_per_s=1234.5,
                eta_s=20 * (total - s),
            )
        )
        if s % 5 == 0:
            events.append(
                event(
                    "gpu",
                    s,
                    gpus=[
                        {
                            "index": 0,
                            "util": 50 + s,
                            "mem_used_gib": 10 + s / 10,
                            "mem_total_gib": 24.0,
                            "temp_c": 60 + s // 3,
                            "power_w": 200 + s,
                        }
                    ],
                )
            )
    return events


def write_run(
    run_dir: Path,
    events: list[dict[str, Any]],
    partial: str = "",
    log_lines: int = 20,
    plan_gib: float | None = 12.5,
) -> Path:
    """Write events.jsonl (plus an optional unterminated last line), train.log, plan.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "events.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")
        fh.write(partial)
    (run_dir / "train.log").write_text("".join(f"train line {i}\n" for i in range(log_lines)))
    if plan_gib is not None:
        (run_dir / "plan.json").write_text(json.dumps({"estimate": {"total_gib": plan_gib}}))
    return run_dir


def append(run_dir: Path, *events: dict[str, Any], raw: str = "") -> None:
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")
        fh.write(raw)


# ---------------------------------------------------------------- the wizard's services


class FixedServices:
    """Deterministic planner/data answers for Pilot and snapshot tests (no probe, no clock).

    Data comes from the real data layer (shipped demos), everything hardware/plan related
    is fixed. The estimate grows with batch, seq length and rank so tests can see the bar
    move and turn red.
    """

    def __init__(self, gpus: bool = True, real_data: bool = True) -> None:
        from tunetui.tui.services import Services

        self._real = Services()
        self.with_gpus = gpus
        self.real_data = real_data
        self.plans: list[dict[str, Any]] = []
        self.launched: list[Path] = []

    def hardware(self):
        from tunetui.tui.services import GpuChoice, MachineView

        gpus = [GpuChoice("NVIDIA GeForce RTX 4090", 23.99, 22.5)] if self.with_gpus else []
        note = "" if self.with_gpus else "NVML Shared Library Not Found"
        return MachineView(
            gpus, cpu_cores=16, ram_gib=125.7, ram_free_gib=100.2, disk_free_gib=512.0, note=note
        )

    def catalog_gpus(self):
        from tunetui.tui.services import GpuChoice

        return [
            GpuChoice("NVIDIA A100 80GB", 79.25, key="a100-80g"),
            GpuChoice("NVIDIA H100 SXM 80GB", 79.1, key="h100-sxm"),
        ]

    def model_ids(self) -> list[str]:
        return ["smollm2-135m", "llama-3.1-8b", "qwen2.5-7b"]

    def describe_model(self, arg: str):
        from tunetui.planner.errors import UserError
        from tunetui.tui.services import ModelInfo

        known = {
            "smollm2-135m": ("LlamaForCausalLM", 0.135),
            "llama-3.1-8b": ("LlamaForCausalLM", 8.03),
        }
        if arg not in known:
            raise UserError(f"unknown model '{arg}'", "Run `tunetui models`")
        arch, params = known[arg]
        return ModelInfo(arg, arch, params, "30 layers, hidden 576")

    def plan(self, options: dict[str, Any]):
        from tunetui.tui.services import PlanInfo

        self.plans.append(dict(options))
        weights = 16.0 if options["model"].lower().endswith("llama-3.1-8b") else 0.3
        if options.get("bits") == 4:
            weights /= 3.5
        acts = (
            options["batch"] * options["cutoff_len"] / 1024 * (0.4 if options["grad_ckpt"] else 1.5)
        )
        lora = (options.get("rank") or 0) / 64  # no rank in a full/freeze request
        gpu = 79.2 if options.get("gpu") == "a100-80g" else 23.99
        rec = {
            "method": "qlora",
            "bits": 4,
            "rank": 16,
            "batch": 2,
            "grad_accum": 8,
            "cutoff_len": 1024,
            "grad_ckpt": True,
            "optim": "adamw",
            "fits": True,
        }
        return PlanInfo(
            total_gib=round(weights + acts + lora + 1.0, 2),
            breakdown_gib={
                "weights": weights,
                "activations": acts,
                "lora+optimizer": lora,
                "overhead": 1.0,
            },
            gpu_gib=gpu,
            speed_text="1,200-2,400 tok/s",
            device="cpu" if options.get("gpu") == "cpu" else "cuda",
            recommendation=rec,
            alternatives=[{**rec, "method": "lora", "bits": None}],
        )

    def dataset_names(self, dataset_dir: str | None) -> tuple[list[str], int]:
        if not self.real_data:
            return ["dpo_demo", "identity", "sharegpt_demo"], 0
        return self._real.dataset_names(dataset_dir)

    def data_info(self, recipe, n: int = 3):
        from tunetui.tui.services import DataInfo

        if not self.real_data:  # snapshots: independent of the shipped demo files
            return DataInfo(
                formats=["identity: alpaca, 40 records"],
                total=40,
                p50=55,
                p95=79,
                max=82,
                previews=[
                    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
                    "Hello! I am tunetui.<|im_end|>"
                ]
                * 2,
            )
        return self._real.data_info(recipe, n)

    def doctor(self, recipe, gpu: str):
        from tunetui.runner.doctor import Check

        names = ("versions", "eos", "disk", "memory", "collective")
        return [Check(n, "skip" if n == "collective" else "ok", "fixed") for n in names]

    def launch(self, recipe_path: Path) -> Path:
        self.launched.append(Path(recipe_path))
        return Path(recipe_path).parent / "runs" / "fake"
