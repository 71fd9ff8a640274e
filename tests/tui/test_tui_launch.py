"""Review -> launch -> live dashboard with the real launcher and the runner's fake worker."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tui_fixtures import FixedServices
from tunetui.tui.app import TuneApp
from tunetui.tui.services import Services

FAKE_WORKER = Path(__file__).resolve().parents[1] / "runner" / "fake_worker.py"


class LaunchingServices(FixedServices):
    """Fixed planner answers, but the real launcher."""

    def launch(self, recipe_path: Path) -> Path:
        return Services().launch(recipe_path)


async def _until(pilot, check, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError("condition not reached")


def _setup(tmp_path: Path, monkeypatch, steps: int, step_s: float) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNETUI_WORKER", f"{sys.executable} {FAKE_WORKER}")
    monkeypatch.setenv("TUNETUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FAKE_STEPS", str(steps))
    monkeypatch.setenv("FAKE_STEP_S", str(step_s))


def test_launch_from_review_follows_the_run_to_its_end(tmp_path: Path, monkeypatch) -> None:
    _setup(tmp_path, monkeypatch, steps=6, step_s=0.05)

    async def scenario() -> None:
        app = TuneApp(services=LaunchingServices(real_data=False), runs_root=tmp_path / "runs")
        app.state["name"] = "launched"
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            app.go(6)
            await pilot.pause(0.2)
            await pilot.press("ctrl+r")
            await _until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
            screen = app.screen
            await _until(pilot, lambda: screen.view.status == "finished")
            assert screen.view.step == 6 and screen.run_dir.name == "launched"

    asyncio.run(scenario())
    assert (tmp_path / "recipe.yaml").is_file()


def test_stop_key_checkpoints_and_stops_a_real_worker(tmp_path: Path, monkeypatch) -> None:
    _setup(tmp_path, monkeypatch, steps=400, step_s=0.05)

    async def scenario() -> None:
        app = TuneApp(services=LaunchingServices(real_data=False), runs_root=tmp_path / "runs")
        app.state["name"] = "to-stop"
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            app.go(6)
            await pilot.pause(0.2)
            await pilot.press("ctrl+r")
            await _until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
            screen = app.screen
            await _until(pilot, lambda: screen.view.step >= 2)
            await pilot.press("s", "y")
            await _until(pilot, lambda: screen.view.status == "stopped")
            assert screen.view.checkpoints and screen.view.step < 400

    asyncio.run(scenario())
