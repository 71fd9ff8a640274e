"""Review -> launch -> live dashboard with the real launcher and the runner's fake worker."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tui_fixtures import FixedServices
from tunetui.tui.app import TuneApp
from tunetui.tui.dashboard import DashboardScreen
from tunetui.tui.screens.review import ReviewScreen
from tunetui.tui.services import Services
from waiting import pilot_until, replayed_dashboard

FAKE_WORKER = Path(__file__).resolve().parents[1] / "runner" / "fake_worker.py"


class LaunchingServices(FixedServices):
    """Fixed planner answers, but the real launcher."""

    def launch(self, recipe_path: Path) -> Path:
        return Services().launch(recipe_path)


async def _launch_from_review(pilot) -> DashboardScreen:
    """Go to the review step, launch with ctrl+r once it is idle, return the dashboard."""
    app = pilot.app
    app.go(6)

    def review_idle() -> bool:
        busy = any(w.is_running for w in app.workers)
        return isinstance(app.screen, ReviewScreen) and not busy

    await pilot_until(pilot, review_idle, what="the review step")
    await pilot.press("ctrl+r")
    return await replayed_dashboard(pilot)


def _app(tmp_path: Path, monkeypatch, name: str, steps: int) -> TuneApp:
    """The wizard with fixed planner answers, naming its run `name`; the fake worker trains
    `steps` steps of 50 ms under tmp_path/runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNETUI_WORKER", f"{sys.executable} {FAKE_WORKER}")
    monkeypatch.setenv("TUNETUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FAKE_STEPS", str(steps))
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    app = TuneApp(services=LaunchingServices(real_data=False), runs_root=tmp_path / "runs")
    app.state["name"] = name
    return app


def test_launch_from_review_follows_the_run_to_its_end(tmp_path: Path, monkeypatch) -> None:
    app = _app(tmp_path, monkeypatch, "launched", steps=6)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _launch_from_review(pilot)
            await pilot_until(pilot, lambda: screen.view.status == "finished", what="the end")
            assert screen.view.step == 6 and screen.run_dir.name == "launched"

    asyncio.run(scenario())
    assert (tmp_path / "recipe.yaml").is_file()


def test_stop_key_checkpoints_and_stops_a_real_worker(tmp_path: Path, monkeypatch) -> None:
    app = _app(tmp_path, monkeypatch, "to-stop", steps=400)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _launch_from_review(pilot)
            await pilot_until(pilot, lambda: screen.view.step >= 2, what="step 2")
            await pilot.press("s", "y")
            await pilot_until(pilot, lambda: screen.view.status == "stopped", what="the stop")
            assert screen.view.checkpoints and screen.view.step < 400

    asyncio.run(scenario())
