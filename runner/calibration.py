"""Where this machine's calibration file lives, and the light wrappers the worker and
`plan` use (`tunetui.planner.calibration` has the format and the arithmetic).

Light module: no torch. The file is per user, not per run, so that every later plan on this
machine learns from every earlier run's first step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunetui.planner.calibration import Measurement, job_key, load, record
from tunetui.runner.modelpath import cache_dir
from tunetui.runner.rundir import PLAN_FILE, read_json

if TYPE_CHECKING:  # `plan --json` reads measurements without building the recipe schema
    from tunetui.runner.recipe import Recipe

__all__ = ["Measurement", "calibration_file", "measurements", "plan_job", "save_measurement"]


CALIBRATION_ENV = "TUNETUI_CALIBRATION"


def calibration_file() -> Path:
    """``<tunetui cache>/calibration.jsonl``; ``$TUNETUI_CALIBRATION`` names another file
    (tests that run real workers keep the user's file clean without moving the model
    cache), and ``$TUNETUI_CACHE`` moves the whole cache."""
    env = os.environ.get(CALIBRATION_ENV)
    return Path(env).expanduser() if env else cache_dir() / "calibration.jsonl"


def measurements() -> list[Measurement]:
    """Every measurement made on this machine (none when the file is missing)."""
    return load(calibration_file())


def plan_job(run_dir: Path, recipe: Recipe) -> dict[str, Any] | None:
    """The run's job as the calibration file keys it, from its plan.json, with the raw
    (uncalibrated) planned GiB: a ratio learnt against a corrected figure would compound.
    None without a plan (the planner failed at launch), or when the recipe no longer runs
    what was planned (an out-of-memory retry changed batch or checkpointing)."""
    plan = read_json(Path(run_dir) / PLAN_FILE)
    key = job_key(plan)
    t = recipe.training
    now = (t.batch_size, recipe.data.cutoff_len, t.gradient_checkpointing)
    if key is None or now != (key["batch"], key["seq"], bool(plan["recommendation"]["grad_ckpt"])):
        return None
    raw = (plan.get("calibration") or {}).get("raw_total_gib")
    planned = raw if raw is not None else plan["estimate"]["total_gib"]
    return {**key, "planned_gib": planned}


def save_measurement(job: dict[str, Any], measured_gib: float) -> None:
    """Append one line: this job was planned at ``job['planned_gib']``, measured so."""
    record(calibration_file(), Measurement(**job, measured_gib=measured_gib))
