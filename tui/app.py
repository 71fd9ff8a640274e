"""The `tunetui` app: the six-step wizard, the runs screen and run dashboards.

`tunetui` with no arguments calls `run_app()`. Startup must paint in well under a second
over SSH: only the first step's screen is imported at start, the others are imported and
installed the first time they are shown, and the hardware probe runs in a worker thread.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from tunetui.tui.services import Hardware, Services
from tunetui.tui.state import WizardState

# (title, "module:Class") per step, imported lazily.
STEPS: list[tuple[str, str]] = [
    ("Hardware", "hardware:HardwareScreen"),
    ("Model", "model:ModelScreen"),
    ("Data", "data:DataScreen"),
    ("Method", "method:MethodScreen"),
    ("Training", "training:TrainingScreen"),
    ("Review", "review:ReviewScreen"),
]


def _screen_class(spec: str) -> type[Screen]:
    module, cls = spec.split(":")
    return getattr(importlib.import_module(f"tunetui.tui.screens.{module}"), cls)


class TuneApp(App[None]):
    """The wizard. `services` and `state` are injectable so tests are deterministic."""

    CSS_PATH = "tunetui.tcss"
    TITLE = "tunetui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        services: Services | None = None,
        state: WizardState | None = None,
        runs_root: Path | None = None,
    ) -> None:
        super().__init__()
        self.services = services or Services()
        self.state = state or WizardState()
        self.runs_root = runs_root
        self.saved_recipe: Path | None = None
        self._hardware: Hardware | None = None
        self._hw_lock = threading.Lock()

    def hardware(self) -> Hardware:
        """The probe, run once per app (called from worker threads)."""
        with self._hw_lock:
            if self._hardware is None:
                self._hardware = self.services.hardware()
            return self._hardware

    def on_mount(self) -> None:
        self.go(1)

    def go(self, step: int) -> None:
        """Show wizard step `step` (1-based), installing its screen on first use."""
        if not 1 <= step <= len(STEPS):
            return
        name = f"step{step}"
        if not self.is_screen_installed(name):
            self.install_screen(_screen_class(STEPS[step - 1][1])(), name)
        if len(self.screen_stack) <= 1 and self.screen_stack[0].id == "_default":
            self.push_screen(name)
        else:
            self.switch_screen(name)

    def action_show_runs(self) -> None:
        from tunetui.tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen(self.runs_root))

    def open_dashboard(self, run_dir: Path) -> None:
        from tunetui.tui.dashboard import DashboardScreen

        self.push_screen(DashboardScreen(run_dir))


def run_app() -> None:
    """Open the wizard (`tunetui` with no arguments)."""
    TuneApp().run()
