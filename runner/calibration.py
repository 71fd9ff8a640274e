"""Where this machine's calibration file lives, and the light wrappers the worker and
`plan` use (`tunetui.planner.calibration` has the format and the arithmetic).

Light module: no torch. The file is per user, not per run, so that every later plan on this
machine learns from every earlier run's first step.
"""

from __future__ import annotations

from pathlib import Path

from tunetui.planner.calibration import Correction, Measurement, correction, load, record
from tunetui.runner.modelpath import cache_dir

__all__ = ["Measurement", "calibration_file", "correction_for", "save"]


def calibration_file() -> Path:
    """``<tunetui cache>/calibration.jsonl`` (``$TUNETUI_CACHE`` moves it, tests use that)."""
    return cache_dir() / "calibration.jsonl"


def save(m: Measurement) -> None:
    record(calibration_file(), m)


def correction_for(**job: object) -> Correction | None:
    return correction(load(calibration_file()), **job)
