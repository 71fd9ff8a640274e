"""Header, footer and chart fixes: a resumed run, a stop in progress, ended runs, axes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import psutil
import pytest
from tui_fixtures import T0, append, event, training_events, write_run
from tunetui.runner.runstate import current_host
from tunetui.tui.dashboard import DashboardApp, DashboardScreen, live_state
from tunetui.tui.runview import WAITING_TEXT
from tunetui.tui.widgets.charts import step_ticks, value_labels
from tunetui.tui.widgets.textline import TextLine
from waiting import pilot_until, replayed_dashboard


def _text(screen: DashboardScreen, selector: str) -> str:
    return screen.query_one(selector, TextLine).text


def _alive_worker(run_dir: Path, started: float) -> None:
    """run.json naming this test process as the run's (live) worker, started at `started`."""
    info = {
        "run_dir": str(run_dir),
        "pid": os.getpid(),
        "pid_create_time": psutil.Process().create_time(),
        "host": current_host(),
        "started": started,
    }
    (run_dir / "run.json").write_text(json.dumps(info))


@pytest.fixture
def resumed_run(tmp_path: Path) -> Path:
    """A run stopped at step 30, then `run --resume`d: the new worker has written nothing."""
    stopped = event("stopped", 31, step=30, checkpoint=str(tmp_path / "r/checkpoints/ckpt-30"))
    run_dir = write_run(tmp_path / "r", [*training_events(30, 50), stopped])
    _alive_worker(run_dir, started=T0 + 100)
    return run_dir


def test_resumed_run_waits_for_the_new_start_instead_of_showing_the_old_stop(
    resumed_run: Path,
) -> None:
    assert live_state(resumed_run) == "running"  # `run_dashboard` then prints how to attach

    async def scenario() -> None:
        app = DashboardApp(resumed_run, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            header = _text(screen, "#run-status")
            assert "waiting" in header and "stopped" not in header and "ckpt-30" not in header
            assert _text(screen, "#progress-text") == WAITING_TEXT  # no old ETA
            assert screen.check_action("stop", ())  # a live run can be stopped
            append(resumed_run, event("start", 101, run="r", total_steps=50))
            append(resumed_run, event("log", 102, step=31, loss=1.2, eta_s=95))
            await pilot_until(pilot, lambda: screen.view.step == 31, what="step 31")
            assert "running" in _text(screen, "#run-status")
            progress = _text(screen, "#progress-text")
            assert "step 31/50" in progress and "ETA 1m35s" in progress

    asyncio.run(scenario())


def test_a_stop_in_progress_reads_stopping(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r", training_events(10, 50))
    _alive_worker(run_dir, started=T0 - 1)
    (run_dir / "STOP").write_text("")  # `tunetui stop` from another terminal
    assert live_state(run_dir) == "stopping"

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            assert "stopping (saving a checkpoint)" in _text(screen, "#run-status")

    asyncio.run(scenario())


def test_ended_run_hides_stop_and_says_why(tmp_path: Path, monkeypatch) -> None:
    run_dir = write_run(tmp_path / "r", [*training_events(5, 5), event("end", 6, step=5)])
    assert live_state(run_dir) is None
    said: list[str] = []
    monkeypatch.setattr(DashboardScreen, "notify", lambda self, msg, **kw: said.append(msg))

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            assert "finished" in _text(screen, "#run-status")
            assert screen.check_action("stop", ()) is False  # not in the footer
            await pilot.press("s")
            await pilot_until(pilot, lambda: said, what="a notification")
            assert screen is app.screen  # no confirmation asked
            assert any("already ended (finished)" in m for m in said)

    asyncio.run(scenario())


def test_first_frame_says_what_it_waits_for(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r", [])

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            assert "waiting" in _text(screen, "#run-status")
            assert _text(screen, "#progress-text") == WAITING_TEXT
            assert not screen.query_one("#percentage").display  # no "--%"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [(1, 5, [1, 2, 3, 4, 5]), (1, 1, [1]), (0, 9, [0, 2, 4, 6, 8]), (1, 30, [10, 20, 30])],
)
def test_step_ticks_are_whole_steps(lo: int, hi: int, ticks: list[int]) -> None:
    assert step_ticks(lo, hi) == ticks


def test_value_labels_tell_close_learning_rates_apart() -> None:
    assert value_labels([1.9e-4, 2e-4]) == ["1.9e-4", "2.0e-4"]
    assert value_labels([1.9999e-4, 2e-4]) == ["1.9999e-4", "2.0000e-4"]
    assert value_labels([1.234, 2.5]) == ["1.23", "2.5"]  # losses as before


def test_attach_to_a_resumed_run_follows_the_new_attempts_log(resumed_run: Path) -> None:
    """`attach` to a resumed run: the log pane follows the new attempt to its end, it does
    not stay on the old attempt's last line while the header moves on."""
    from textual.widgets import Log

    with open(resumed_run / "train.log", "a", encoding="utf-8") as log:
        log.write("stopped at step 30: checkpoint saved\n")

    async def scenario() -> None:
        app = DashboardApp(resumed_run, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            pane = screen.query_one("#log", Log)
            await pilot_until(pilot, lambda: "stopped at step 30" in pane.lines[-1])
            with open(resumed_run / "train.log", "a", encoding="utf-8") as log:
                log.write("\n===== tunetui: resuming =====\nresumed from checkpoint-30\n")
            append(resumed_run, event("start", 101, run="r", total_steps=50))
            append(resumed_run, event("log", 102, step=31, loss=1.2))
            await pilot_until(pilot, lambda: pane.lines[-1] == "resumed from checkpoint-30")
            # The pane shrinks under the text (here: the full-height log toggled off; in a
            # run, a device panel appearing): it must keep following all the same.
            await pilot.press("l")
            await pilot_until(pilot, lambda: screen.has_class("log-full"))
            await pilot.pause()
            await pilot.press("l")
            await pilot_until(pilot, lambda: not screen.has_class("log-full"))
            with open(resumed_run / "train.log", "a", encoding="utf-8") as log:
                log.write("step 50 done\ntraining finished\n")
            append(resumed_run, event("end", 120, step=50))
            await pilot_until(pilot, lambda: screen.view.status == "finished", what="the end")
            await pilot_until(pilot, lambda: pane.lines[-1] == "training finished", what="log")
            await pilot_until(
                pilot, lambda: pane.scroll_y == pane.max_scroll_y, what="the log's end in view"
            )
            assert "finished" in _text(screen, "#run-status")

    asyncio.run(scenario())
