"""The runs screen: past and running runs; Enter opens a run's dashboard (a finished run
is replayed from its events.jsonl), ``a`` a finished run's actions (chat with it, compare
it with its base, export it, serve it).

Rows are the runner's `read_state`, the same state `tunetui runs` prints, newest first.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from tunetui.runner.rundir import all_run_dirs, folder_text, list_run_dirs
from tunetui.runner.runstate import RunState, read_state


class RunsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("a", "actions", "Chat/export/serve"),
    ]

    def __init__(self, root: Path | None = None) -> None:
        super().__init__()
        self.root = root
        self.runs: list[RunState] = []

    def compose(self) -> ComposeResult:
        yield Static(
            "Runs (Enter opens the dashboard; a: chat, compare, export, serve)",
            classes="step-title",
        )
        yield DataTable(id="runs", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns("run", "state", "step", "loss", "folder")
        self.action_reload()

    def action_reload(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.clear()
        # The app's own root (tests), else ./runs and the runs started from other folders.
        paths = all_run_dirs() if self.root is None else list_run_dirs(self.root)
        self.runs = [read_state(path) for path in reversed(paths)]
        for r in self.runs:
            step = f"{r.step or 0}/{r.total_steps}" if r.total_steps else str(r.step or 0)
            loss = "--" if r.loss is None else f"{r.loss:.4g}"
            table.add_row(r.name, r.state, step, loss, folder_text(Path(r.path).parent))
        if not self.runs:
            table.add_row("no runs yet", "", "", "", "")
        table.focus()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.runs):
            self.app.open_dashboard(Path(self.runs[event.cursor_row].path))  # type: ignore[attr-defined]

    def action_actions(self) -> None:
        """Open the selected run's actions; they need a finished run's adapter or model."""
        row = self.query_one("#runs", DataTable).cursor_row
        if not 0 <= row < len(self.runs):
            return
        run = self.runs[row]
        if run.state != "finished":
            self.notify(
                f"{run.name} is {run.state}: chat, export and serve need a finished run",
                severity="warning",
            )
            return
        self.app.open_actions(Path(run.path))  # type: ignore[attr-defined]
