"""The download panel at 80x24: opened by the first report of a hub download (from a
worker thread, as `Services.fetch_model` sends them), updated, closed by the last."""

from __future__ import annotations

import asyncio
import threading

from textual.widgets import ProgressBar, Static
from tui_fixtures import FixedServices
from tunetui.runner.modelpath import DownloadProgress
from tunetui.tui.app import TuneApp
from waiting import pilot_until


def _from_worker(app: TuneApp, progress: DownloadProgress) -> None:
    thread = threading.Thread(target=app.download_progress, args=(progress,))
    thread.start()


def test_panel_opens_shows_progress_and_closes_when_done() -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices(real_data=False))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot_until(pilot, lambda: type(app.screen).__name__ == "HardwareScreen")
            _from_worker(app, DownloadProgress("org/model"))
            await pilot_until(pilot, lambda: type(app.screen).__name__ == "DownloadScreen")
            screen = app.screen
            await pilot_until(pilot, lambda: screen.is_mounted)
            title = str(screen.query_one("#download-title", Static).render())
            assert "org/model" in title and "Hugging Face Hub" in title
            assert "asking the Hub" in str(screen.query_one("#download-text", Static).render())
            _from_worker(app, DownloadProgress("org/model", int(1.5e9), int(3e9), 1, 4))
            text = screen.query_one("#download-text", Static)
            await pilot_until(pilot, lambda: "1.5 of 3.0 GB · 1/4 files" in str(text.render()))
            assert screen.query_one(ProgressBar).percentage == 0.5
            _from_worker(app, DownloadProgress("org/model", int(3e9), int(3e9), 4, 4, True))
            await pilot_until(pilot, lambda: type(app.screen).__name__ == "HardwareScreen")

    asyncio.run(scenario())
