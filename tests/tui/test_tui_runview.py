"""The runner's one fold of events (`RunProgress`), as the dashboard reads it: tolerant
of missing fields and junk, and the dashboard's header line from it."""

from __future__ import annotations

from pathlib import Path

from tui_fixtures import event, training_events
from tunetui.runner.progress import RunProgress, format_duration
from tunetui.tui.runview import status_text


def test_training_events_fill_progress_curves_and_gpu() -> None:
    view = RunProgress()
    view.apply_all(training_events(steps=30, total=50))
    assert (view.status, view.step, view.total_steps) == ("running", 30, 50)
    assert view.fraction == 0.6
    assert len(view.train_loss) == 30 and view.train_loss[-1] == (30, 1.3)
    gpu = view.devices["GPU 0"]
    assert gpu.last("util") == 80 and gpu.mem_total_gib == 24.0


def test_missing_fields_and_na_values_are_ignored() -> None:
    view = RunProgress()
    view.apply(event("gpu", 1, gpus=[{"index": 1, "util": None, "temp_c": "N/A"}, "junk"]))
    view.apply(event("log", 2))  # no step: ignored
    view.apply(event("eval", 3, metrics="oops"))
    view.apply({"type": "nonsense"})
    assert view.devices["GPU 1"].last("util") is None
    assert view.step == 0 and view.eval_loss == []


def test_error_stop_end_and_resume() -> None:
    view = RunProgress()
    view.apply(event("error", 1, message="CUDA out of memory", traceback_tail="a\nb"))
    assert view.status == "error" and view.traceback_tail == ["a", "b"]
    view.apply(event("start", 2, resumed_from="checkpoint-10"))
    assert view.status == "running" and not view.error_message and view.step == 0
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


def test_a_resumed_start_begins_at_its_checkpoint_step() -> None:
    view = RunProgress()
    view.apply_all(training_events(steps=30, total=50))
    view.apply(event("start", 40, total_steps=50, step=20, resumed_from="checkpoint-20"))
    assert (view.step, view.status, view.eta_s) == (20, "running", None)
    assert len(view.train_loss) == 30  # the curve keeps the earlier attempt


def test_header_names_the_run_its_state_and_output(tmp_path: Path) -> None:
    view = RunProgress()
    view.apply_all(training_events(steps=2, total=2))
    view.apply(event("end", 3, step=2, output=str(tmp_path / "demo" / "adapter")))
    header = status_text(view, tmp_path / "demo")
    assert header.startswith("[b]demo[/b]  [bold cyan]finished[/]  sft lora smollm2-135m")
    assert header.endswith("output: demo/adapter")
