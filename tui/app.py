"""The `tunetui` app: the six-step wizard, the runs screen, run dashboards and a finished
run's actions (chat, compare, export, serve).

`tunetui` with no arguments calls `run_app()`. Startup must paint in well under a second
over SSH: only the first step's screen is imported at start, the others are imported and
installed the first time they are shown, and the hardware probe runs in a worker thread.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

if TYPE_CHECKING:
    from tunetui.tui.screens.download import DownloadScreen
    from tunetui.tui.services import MachineView, Services
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

    CSS_PATH = str(Path(__file__).with_name("tunetui.tcss"))  # absolute: subclasses live elsewhere
    TITLE = "tunetui"
    ENABLE_COMMAND_PALETTE = False  # keys are all in the footer; 80 columns are scarce
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        services: Services | None = None,
        state: WizardState | None = None,
        runs_root: Path | None = None,
    ) -> None:
        super().__init__()
        # Both are built on first use (pydantic and the planner cost ~0.4 s to import):
        # the first screen paints before they are needed.
        self._services = services
        if services is not None:
            services.on_download = self.download_progress
        self._state = state
        self._lazy_lock = threading.Lock()
        self.runs_root = runs_root
        self.saved_recipe: Path | None = None
        self._hardware: MachineView | None = None
        self._download_panel: DownloadScreen | None = None
        self._hw_lock = threading.Lock()

    @property
    def services(self) -> Services:
        with self._lazy_lock:
            if self._services is None:
                from tunetui.tui.services import Services

                self._services = Services()
                self._services.on_download = self.download_progress
            return self._services

    @property
    def state(self) -> WizardState:
        with self._lazy_lock:
            if self._state is None:
                from tunetui.tui.state import WizardState

                self._state = WizardState()
            return self._state

    def hardware(self) -> MachineView:
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

    def download_progress(self, progress: Any) -> None:
        """A hub model's download (`runner.modelpath.DownloadProgress`), from any thread:
        the download panel opens with the first report and closes with the last."""
        if threading.current_thread() is not threading.main_thread():
            self.call_from_thread(self._show_download, progress)
        else:
            self._show_download(progress)

    def _show_download(self, progress: Any) -> None:
        from tunetui.tui.screens.download import DownloadScreen

        panel = self._download_panel
        if progress.finished:
            if panel is not None and panel.is_attached and self.screen is panel:
                panel.dismiss()
            self._download_panel = None
            return
        if panel is None:
            panel = self._download_panel = DownloadScreen(progress)
            self.push_screen(panel)
        if panel.is_mounted:
            panel.show(progress)

    def action_show_runs(self) -> None:
        from tunetui.tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen(self.runs_root))

    def open_dashboard(self, run_dir: Path) -> None:
        from tunetui.tui.dashboard import DashboardScreen

        self.push_screen(DashboardScreen(run_dir))

    def open_actions(self, run_dir: Path) -> None:
        """A finished run's chat, base-vs-tuned comparison, export and serve."""
        from tunetui.tui.screens.run_actions import RunActionsScreen

        self.push_screen(RunActionsScreen(run_dir))


def run_app(state: WizardState | None = None) -> None:
    """Open the wizard (`tunetui` with no arguments; `tunetui init` with its flags chosen)."""
    TuneApp(state=state).run()
