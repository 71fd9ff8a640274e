"""The active-learning screen: rounds, learning curve, stopping decision, items to label next.

`ActiveLearningScreen(project_dir)` only *reads* an AL project directory; the loop's steps
stay in the CLI. What it shows is worked out by the pure view model `tui.alview` (read,
words, widths); this module only puts that into widgets. Reading happens in a worker
thread (`r`, and whenever state.json or to_label.jsonl change on disk), so a big state file
never freezes the keyboard. A project with no rounds or no batch selected yet shows what to
run next instead of empty panes.

`run_al_app(project_dir)` opens it as a standalone app (``tunetui al status DIR --tui``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot
from tunetui.tui.alview import (
    ALView,
    clip,
    decision,
    fmt_num,
    item_cells,
    items_title,
    load_view,
    next_step,
    project_mtimes,
    summary_line,
    text_width,
    title,
)

# A cheap stat() of two files every POLL_S decides whether to re-read the project.
POLL_S = 2.0


# ---------------------------------------------------------------------------- screen
class ActiveLearningScreen(Screen[None]):
    """Rounds table, learning curve and the batch to label next, at 80x24 and up."""

    DEFAULT_CSS = """
    ActiveLearningScreen #al-summary { height: 1; padding: 0 1; }
    ActiveLearningScreen #al-decision { height: 1; padding: 0 1; }
    ActiveLearningScreen #al-decision.al-stop { color: $warning; }
    ActiveLearningScreen #al-decision.al-continue { color: $success; }
    ActiveLearningScreen #al-decision.al-error { color: $error; }
    ActiveLearningScreen #al-top { height: 2fr; min-height: 9; max-height: 24; }
    ActiveLearningScreen #al-rounds { width: 34; height: 100%; border: round $primary; }
    ActiveLearningScreen #al-curve { width: 1fr; height: 100%; border: round $primary; }
    ActiveLearningScreen #al-items { height: 3fr; min-height: 4; border: round $secondary; }
    ActiveLearningScreen #al-item-text { height: 2; padding: 0 1; color: $text-muted; }
    ActiveLearningScreen #al-rounds:focus, ActiveLearningScreen #al-items:focus {
        border: heavy $accent;
    }
    """

    BINDINGS = [
        Binding("r", "reload", "Refresh"),
        Binding("tab", "app.focus_next", "Next pane", show=True),
        Binding("shift+tab", "app.focus_previous", "Prev pane", show=False),
        Binding("q,escape", "leave", "Back"),
    ]

    def __init__(self, project_dir: str | Path, *, poll_s: float | None = POLL_S) -> None:
        super().__init__()
        self.project = Path(project_dir)
        self.poll_s = poll_s
        self.view = ALView()
        self.loads = 0  # completed reads (tests wait on it)
        self._worker: Worker[ALView] | None = None
        self._again = False

    def compose(self) -> ComposeResult:
        yield Static(
            f"Active learning  {escape(self.project.name)}", id="al-title", classes="step-title"
        )
        yield Static("reading…", id="al-summary")
        yield Static("", id="al-decision")
        with Horizontal(id="al-top"):
            yield DataTable(id="al-rounds", cursor_type="row", zebra_stripes=False)
            yield PlotextPlot(id="al-curve")
        yield DataTable(id="al-items", cursor_type="row")
        yield Static("", id="al-item-text")
        yield Footer()

    def on_mount(self) -> None:
        rounds = self.query_one("#al-rounds", DataTable)
        rounds.border_title = "rounds"
        rounds.add_columns("round", "labels", "metric", "kappa")
        self.query_one("#al-curve", PlotextPlot).border_title = "learning curve"
        items = self.query_one("#al-items", DataTable)
        items.border_title = "to label next"
        self._draw_curve(None)
        self.action_reload()
        if self.poll_s:
            self.set_interval(self.poll_s, self._poll)
        items.focus()

    # -- reading -------------------------------------------------------------------------
    def action_reload(self) -> None:
        """Re-read the project in a worker thread."""
        self._load()

    def _load(self) -> None:
        """One read at a time; asking during a read queues exactly one more after it.

        Cancelling a slow read for a newer one would starve a big project (each poll would
        cancel the read before it finished); queueing still ends on the newest files.
        """
        if self._worker is not None and not self._worker.is_finished:
            self._again = True
            return
        self._again = False
        self._worker = self.run_worker(
            lambda: load_view(self.project), thread=True, group="al-load"
        )

    def _poll(self) -> None:
        if project_mtimes(self.project) != self.view.mtimes:
            self._load()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker or not event.worker.is_finished:
            return
        view = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(view, ALView):
            self.show(view)
        if self._again:
            self._load()

    def show(self, view: ALView) -> None:
        """Put a freshly read view on screen (main thread)."""
        self.view = view
        self.loads += 1
        decision_box = self.query_one("#al-decision", Static)
        decision_box.remove_class("al-stop", "al-continue", "al-error")
        if view.error or view.status is None:
            self.query_one("#al-summary", Static).update("cannot read the project")
            decision_box.update(f"[b]error:[/b] {escape(view.error or '')}")
            decision_box.add_class("al-error")
            return
        status = view.status
        self.query_one("#al-title", Static).update(escape(title(self.project, status)))
        self.query_one("#al-summary", Static).update(summary_line(status))
        said = decision(status)
        decision_box.update(f"[b]{said.word}[/b] {escape(said.reason)}")
        decision_box.add_class(said.css)
        self._fill_rounds(status)
        self._draw_curve(status)
        self._fill_items(view)

    def _fill_rounds(self, status: dict[str, Any]) -> None:
        table = self.query_one("#al-rounds", DataTable)
        table.clear(columns=True)
        table.add_columns("round", "labels", Text(status["metric_name"] or "metric"), "kappa")
        for r in status["rounds"]:
            table.add_row(
                str(r["round"]), str(r["n_labels"]), fmt_num(r["metric"]), fmt_num(r["kappa"], 3)
            )
        if status["rounds"]:
            table.move_cursor(row=len(status["rounds"]) - 1)
        else:
            table.add_row("-", "-", "no rounds", "")

    def _draw_curve(self, status: dict[str, Any] | None) -> None:
        chart = self.query_one("#al-curve", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        rounds = status["rounds"] if status else []
        if rounds:
            xs = [r["n_labels"] for r in rounds]
            ys = [r["metric"] for r in rounds]
            if len(rounds) > 1:
                plt.plot(xs, ys, marker="braille")
            plt.scatter(xs, ys, marker="•")  # one mark per round, on top of the line
            chart.border_title = escape(f"{status['metric_name']} vs labels")
        else:
            plt.title("no rounds yet")
            chart.border_title = "learning curve"
        chart.refresh()

    def _fill_items(self, view: ALView) -> None:
        table = self.query_one("#al-items", DataTable)
        keep = table.cursor_row
        table.clear(columns=True)
        table.border_title = items_title(view)
        if not view.items:
            table.border_subtitle = ""
            table.add_column("")
            table.add_row(Text(view.items_note))
            self._show_item_text(None)
            return
        if view.status is not None:
            table.border_subtitle = escape(next_step(self.project, view.status, view.items))
        table.add_columns("id", "guess", "score", "label", "text")
        text_w = text_width(view.items, self.size.width)
        for item in view.items:
            # Text, not str: a cell string would be read as markup.
            table.add_row(*(Text(cell) for cell in item_cells(item, text_w)))
        table.move_cursor(row=min(keep, len(view.items) - 1))
        self._show_item_text(table.cursor_row)

    def on_resize(self) -> None:
        """Re-clip the text column to the new width."""
        if self.view.items:
            self._fill_items(self.view)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "al-items":
            self._show_item_text(event.cursor_row)

    def _show_item_text(self, row: int | None) -> None:
        """The whole text of the highlighted item (the table shows one line of it)."""
        box = self.query_one("#al-item-text", Static)
        if row is None or not 0 <= row < len(self.view.items):
            box.update("")
            return
        item = self.view.items[row]
        box.update(escape(clip(f"{item.id}: {item.text}", 2 * max(self.size.width - 2, 20))))

    # -- keys ----------------------------------------------------------------------------
    def action_leave(self) -> None:
        if isinstance(self.app, ActiveLearningApp):
            self.app.exit()
        else:
            self.dismiss()


class ActiveLearningApp(App[None]):
    """A standalone app around one `ActiveLearningScreen` (``tunetui al status --tui``)."""

    CSS_PATH = "../tunetui.tcss"
    TITLE = "tunetui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, project_dir: str | Path, *, poll_s: float | None = POLL_S) -> None:
        super().__init__()
        self.project = Path(project_dir)
        self.poll_s = poll_s

    def on_mount(self) -> None:
        self.push_screen(ActiveLearningScreen(self.project, poll_s=self.poll_s))


def run_al_app(project_dir: str | Path) -> None:
    """Open the screen on `project_dir`; not an AL project is a `UserError` before any UI."""
    from tunetui.runner.al.state import load_state

    load_state(project_dir)  # raises UserError with the fix (`tunetui al init ...`)
    ActiveLearningApp(project_dir).run()
