"""Folding events into the dashboard's state: tolerant of missing fields and junk."""

from __future__ import annotations

from tui_fixtures import event, training_events
from tunetui.tui.runview import RunView, format_duration


def test_training_events_fill_progress_curves_and_gpu() -> None:
    view = RunView()
    view.apply_all(training_events(steps=30, total=50))
    assert (view.status, view.step, view.total_steps) == ("running", 30, 50)
    assert view.progress == 0.6
    assert len(view.train_loss) == 30 and view.train_loss[-1] == (30, 1.3)
    gpu = view.devices["GPU 0"]
    assert gpu.last("util") == 80 and gpu.mem_total_gib == 24.0


def test_missing_fields_and_na_values_are_ignored() -> None:
    view = RunView()
    view.apply(event("gpu", 1, gpus=[{"index": 1, "util": None, "temp_c": "N/A"}, "junk"]))
    view.apply(event("log", 2))  # no step: ignored
    view.apply(event("eval", 3, metrics="oops"))
    view.apply({"type": "nonsense"})
    assert view.devices["GPU 1"].last("util") is None
    assert view.step == 0 and view.eval_loss == []


def test_error_stop_end_and_resume() -> None:
    view = RunView()
    view.apply(event("error", 1, message="CUDA out of memory", traceback_tail="a\nb"))
    assert view.status == "error" and view.traceback_tail == ["a", "b"]
    view.apply(event("start", 2, resumed_from="checkpoint-10"))
    assert view.status == "running" and not view.error_message
    view.apply(event("stopped", 3, step=12, checkpoint="ckpt/checkpoint-12"))
    assert view.status == "stopped" and view.checkpoints[-1].endswith("12")
    view.apply(event("end", 4, step=20, metrics={"train_loss": 1.0}, output="adapter"))
    assert view.finished and view.output == "adapter"
    view.reset()
    assert view.status == "waiting" and view.step == 0


def test_format_duration() -> None:
    assert format_duration(None) == "--"
    assert format_duration(42) == "42s"
    assert format_duration(185) == "3m05s"
    assert format_duration(3720) == "1h02m"
