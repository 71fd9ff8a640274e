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
