"""The dashboard on a synthetic events.jsonl: what the panels show, following, keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Label, Log, Static
from tui_fixtures import append, event, training_events, write_run
from tunetui.runner.events import LogTail
from tunetui.runner.progress import RunProgress
from tunetui.runner.rundir import plan_gib
from tunetui.runner.runstate import RunState
from tunetui.runner.stopping import StopResult
from tunetui.tui.dashboard import DashboardApp, DashboardScreen
from tunetui.tui.runview import WAITING_TEXT, progress_line
from tunetui.tui.widgets.textline import TextLine
from waiting import pilot_until, replayed_dashboard

GPU_MISSING_FIELDS = event("gpu", 31, gpus=[{"index": 1, "util": 40}])


def _text(screen: DashboardScreen, selector: str) -> str:
    return screen.query_one(selector, TextLine).text


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    events = [*training_events(30, 50), GPU_MISSING_FIELDS]
    return write_run(tmp_path / "demo", events, partial='{"v":1,"t":1,"type":"log","st')


def test_panels_show_progress_gpus_and_log(run_dir: Path) -> None:
    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            assert screen.view.step == 30  # the truncated last line is not an event
            assert "step 30/50" in _text(screen, "#progress-text")
            assert "ETA 6m40s" in _text(screen, "#progress-text")
            # a panel's lines are mounted a frame after the panel itself
            await pilot_until(
                pilot,
                lambda: _summary(screen._panels["GPU 0"]) and _summary(screen._panels["GPU 1"]),
                what="both GPU panels' summary lines",
            )
            gpu0 = _summary(screen._panels["GPU 0"])
            assert "mem 13.0/24.0 GiB (plan 12.5)" in gpu0 and "230 W" in gpu0
            gpu1 = _summary(screen._panels["GPU 1"])
            assert "util 40%" in gpu1 and "mem -- GiB" in gpu1
            assert screen.query_one("#log", Log).line_count >= 20

    asyncio.run(scenario())


def test_follows_appends_completed_partial_line_and_truncation(run_dir: Path) -> None:
    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            assert screen.view.step == 30
            # Complete the partial line with garbage: still skipped; then a real step.
            append(run_dir, raw='ep":99}\n')
            append(run_dir, event("log", 40, step=31, loss=1.2))
            await pilot_until(pilot, lambda: screen.view.step == 31, what="step 31")
            assert screen.view.loss == 1.2
            # A --resume that rewrites the file: the view starts over.
            write_run(run_dir, [event("start", 50, run="demo", total_steps=10, resumed_from="c")])
            await pilot_until(pilot, lambda: screen.view.total_steps == 10, what="the restart")
            assert screen.view.step == 0 and screen.view.resumed_from == "c"
            assert screen.view.train_loss == []  # the old attempt's curve is gone

    asyncio.run(scenario())


def test_error_panel_shows_traceback_tail_and_log_path(tmp_path: Path) -> None:
    async def scenario() -> None:
        events = [
            *training_events(3, 10),
            event(
                "error",
                9,
                message="CUDA out of memory",
                traceback_tail=["Traceback (most recent call last):", "RuntimeError: OOM"],
            ),
        ]
        run_dir = write_run(tmp_path / "bad", events)
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            panel = (await replayed_dashboard(pilot)).query_one("#error-panel", Static)
            assert panel.display
            text = str(panel.render())
            assert "CUDA out of memory" in text and "RuntimeError: OOM" in text
            assert str(run_dir / "train.log") in text

    asyncio.run(scenario())


def test_keys_log_toggle_stop_confirm_and_detach(run_dir: Path, monkeypatch) -> None:
    asked: list[Path] = []

    def fake_stop(run_dir: Path, wait_s: float) -> StopResult:
        asked.append(run_dir)
        return StopResult(RunState(run_dir.name, str(run_dir), "running"), stop_file=True)

    monkeypatch.setattr("tunetui.tui.dashboard.request_stop", fake_stop)

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            await pilot.press("l")
            assert screen.has_class("log-full")
            await pilot.press("l")
            await pilot.press("s")
            assert app.screen.__class__.__name__ == "ConfirmStop"
            await pilot.press("n")  # no: nothing is sent
            assert asked == []
            await pilot.press("s", "y")
            await pilot_until(pilot, lambda: asked == [run_dir], what="the stop request")
            assert "stopping (saving a checkpoint)" in _text(screen, "#run-status")
            await pilot.press("d")
        assert app.return_value == "detached"

    asyncio.run(scenario())


def test_progress_line_without_totals() -> None:
    assert progress_line(RunProgress()) == WAITING_TEXT  # before the first event
    started = RunProgress()
    started.apply(event("start", 1))
    assert progress_line(started) == "step 0 · ETA --"
    done = RunProgress()
    done.apply(event("end", 1, step=3, peak_mem_gib=1.64))
    assert progress_line(done, 2.6) == "step 3 · peak 1.6 GiB (plan 2.6)"


def test_log_tail_partial_and_carriage_returns(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    tail = LogTail(path)
    assert tail.poll() == []
    path.write_text("a\nb 10%\rb 20%\nc")
    assert tail.poll() == ["a", "b 10%", "b 20%"]
    with open(path, "a") as fh:
        fh.write("d\n")
    assert tail.poll() == ["cd"]
    path.write_text("new\n")
    assert tail.poll() == ["new"] and tail.restarted


def test_plan_estimate_is_read_from_plan_json(run_dir: Path) -> None:
    assert plan_gib(run_dir) == 12.5


def test_a_worker_gone_without_end_shows_crashed(tmp_path: Path, monkeypatch) -> None:
    import json
    import subprocess
    import sys

    from tunetui.runner.runstate import current_host

    monkeypatch.setattr("tunetui.tui.dashboard.ALIVE_S", 0.05)
    run_dir = write_run(tmp_path / "gone", training_events(5, 50))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    info = {"pid": dead.pid, "host": current_host(), "run_dir": str(run_dir)}
    (run_dir / "run.json").write_text(json.dumps(info))

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            await pilot_until(pilot, lambda: screen.view.status == "crashed", what="crashed")
            panel = screen.query_one("#error-panel", Static)
            assert panel.display and "without an end event" in str(panel.render())
            # A resume records a live worker and appends a new start: live again.
            import os

            import psutil

            me = {**info, "pid": os.getpid(), "pid_create_time": psutil.Process().create_time()}
            (run_dir / "run.json").write_text(json.dumps(me))
            append(run_dir, event("start", 60, run="demo", resumed_from="checkpoint-5"))
            await pilot_until(pilot, lambda: screen.view.status == "running", what="the resume")
            assert not panel.display

    asyncio.run(scenario())


def test_log_tail_can_start_near_the_end(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("".join(f"line {i}\n" for i in range(1000)))
    tail = LogTail(path)
    tail.skip_to_tail(60)
    lines = tail.poll()
    assert lines[-1] == "line 999" and len(lines) < 10 and lines[0].startswith("line ")


def test_a_long_history_replays_without_freezing(tmp_path: Path) -> None:
    events = [event("start", 0, total_steps=20000)]
    events += [event("log", i, step=i, loss=1.0, lr=1e-4) for i in range(1, 20001)]
    run_dir = write_run(tmp_path / "long", events)

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("l")  # keys work while the history is read
            screen = await replayed_dashboard(pilot)  # 20000 steps: in a thread, in batches
            assert screen.view.step == 20000
            assert screen.has_class("log-full")

    asyncio.run(scenario())


def test_many_gpus_get_one_line_each(tmp_path: Path) -> None:
    gpus = [
        {"index": i, "util": 50 + i, "mem_used_gib": 60.0, "mem_total_gib": 79.6} for i in range(8)
    ]
    run_dir = write_run(tmp_path / "eight", [*training_events(2, 10), event("gpu", 3, gpus=gpus)])

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            panels = (await replayed_dashboard(pilot))._panels
            assert len(panels) == 8 and all(p.compact for p in panels.values())
            last = panels["GPU 7"]
            await pilot_until(pilot, lambda: last.query(".device-summary"), what="GPU 7's line")
            assert "GPU 7  util 57%" in last.query_one(".device-summary", TextLine).text

    asyncio.run(scenario())


def _summary(panel) -> str:
    """A device panel's summary line, or "" before it is mounted (a frame after the panel)."""
    found = panel.query(".device-summary")
    return found.first(TextLine).text if found else ""


def test_ranks_get_one_line_per_rank_and_device_with_their_own_figures(tmp_path: Path) -> None:
    """Two machines of two GPUs (indices repeat across machines), then a CPU pair whose
    memory figures must not alternate on one line (issue 14)."""
    events = [*training_events(2, 10)]
    for rank, (index, used) in enumerate([(0, 61.0), (1, 62.0), (0, 63.0), (1, 64.0)]):
        gpu = {"index": index, "util": 90 + rank, "mem_used_gib": used, "mem_total_gib": 79.6}
        events.append(event("gpu", 3, gpus=[gpu], rank=rank))
    for rank, rss in ((0, 1.25), (1, 1.5)):
        cpu = {"util": 100.0, "ram_used_gib": 6.0, "ram_total_gib": 23.5, "rss_gib": rss}
        events.append(event("gpu", 4, cpu=cpu, rank=rank))
    run_dir = write_run(tmp_path / "ranks", events)

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            panels = screen._panels
            assert list(panels) == ["r0 GPU 0", "r0 CPU", "r1 GPU 1", "r1 CPU", "r2 GPU 0",
                                    "r3 GPU 1"]  # fmt: skip
            last = panels["r3 GPU 1"]
            await pilot_until(pilot, lambda: last.query(".device-summary"), what="r3's line")
            assert "util 93%" in _summary(last) and "mem 64.0/79.6 GiB" in _summary(last)
            assert "mem 63.0/79.6" in _summary(panels["r2 GPU 0"])  # not r0's GPU 0
            assert "rss 1.2 GiB" in _summary(panels["r0 CPU"])
            assert "rss 1.5 GiB" in _summary(panels["r1 CPU"])
            assert str(panels["r2 GPU 0"].query_one(".rank-label", Label).render()) == "r2"
            # a later sample updates its own rank's line only
            cpu = {"util": 50.0, "ram_used_gib": 6.0, "ram_total_gib": 23.5, "rss_gib": 2.0}
            append(run_dir, event("gpu", 5, cpu=cpu, rank=1))
            await pilot_until(pilot, lambda: "rss 2.0 GiB" in _summary(panels["r1 CPU"]))
            assert "rss 1.2 GiB" in _summary(panels["r0 CPU"])

    asyncio.run(scenario())


def test_rank_less_samples_keep_the_one_panel_per_device(run_dir: Path) -> None:
    """A one-process run (no `rank`) is shown as before: panels keyed by device."""

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            assert set(screen._panels) == {"GPU 0", "GPU 1"} and screen.ranks.ranks == {}

    asyncio.run(scenario())
