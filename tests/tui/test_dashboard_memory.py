"""The dashboard's memory line: measured vs planned after the first step, and the latest
warning event (an out-of-memory retry) beside it (issue 13 §2)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_fixtures import event, training_events, write_run
from tunetui.tui.dashboard import DashboardApp
from tunetui.tui.widgets.textline import TextLine
from waiting import replayed_dashboard


def test_dashboard_shows_planned_and_measured_memory_and_the_latest_warning(
    tmp_path: Path,
) -> None:
    events = training_events(30, 50)
    events.insert(2, event("memory", 1.5, step=1, planned_gib=20.93, measured_gib=19.81))
    events.append(event("warning", 31, message="out of memory: batch 4 x 2 accum from step 20"))
    run_dir = write_run(tmp_path / "demo", events)

    async def scenario() -> None:
        app = DashboardApp(run_dir, poll_s=0.05)
        async with app.run_test(size=(100, 24)) as pilot:
            screen = await replayed_dashboard(pilot)
            line = screen.query_one("#memory-text", TextLine).text
            assert "memory: planned 20.9 GiB, measured 19.8 GiB" in line
            assert "warning: out of memory: batch 4 x 2 accum from step 20" in line
            app.save_screenshot(str(tmp_path / "dashboard.svg"))

    asyncio.run(scenario())
