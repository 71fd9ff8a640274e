"""The calibration file that later plans read: similar jobs' measured/planned ratio.

The `memory` event test (MemoryCallback, RSS on CPU) waits on runner/events.py accepting the
``memory`` event type (see the issue 13 report)."""

from __future__ import annotations

from tunetui.planner.calibration import Measurement, correction

JOB = {"gpu": "CPU", "architecture": "llama", "method": "lora", "bits": 16, "seq": 64,
       "batch": 2}  # fmt: skip


def test_correction_is_the_median_ratio_of_similar_jobs_on_this_gpu() -> None:
    def m(planned: float, measured: float, **changes) -> Measurement:
        return Measurement(**{**JOB, **changes}, planned_gib=planned, measured_gib=measured)

    rows = [m(10, 10.4), m(10, 10.2), m(10, 10.6), m(10, 8, method="full"), m(10, 30)]
    found = correction(rows, **JOB)
    assert found.runs == 3 and found.note == "calibrated on 3 runs on this GPU: +4%"
    assert correction(rows, **{**JOB, "gpu": "NVIDIA A100"}) is None
