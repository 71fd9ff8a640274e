"""The active-learning screen: rounds, learning curve, stopping decision, items to label next.

`ActiveLearningScreen(project_dir)` only *reads* an AL project directory (state.json through
`al_status`, to_label.jsonl written by `tunetui al select`); the loop's steps stay in the
CLI. Reading happens in a worker thread (`r`, and whenever state.json or to_label.jsonl
change on disk), so a big state file never freezes the keyboard. A project with no rounds
or no batch selected yet shows what to run next instead of empty panes.

`run_al_app(project_dir)` opens it as a standalone app (``tunetui al status DIR --tui``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

# A cheap stat() of two files every POLL_S decides whether to re-read the project.
POLL_S = 2.0
MAX_ITEMS = 500  # to_label.jsonl is one batch; more than this is not read into the table


@dataclass
class ToLabelItem:
    """One row of to_label.jsonl, plus the label it got since (None while in flight)."""

    id: str
    text: str
    guess: str | None
    score: float | None
    label: str | None = None


@dataclass
class ALView:
    """Everything the screen shows, read from disk in one go (in a worker thread)."""

    status: dict[str, Any] | None = None
    items: list[ToLabelItem] = field(default_factory=list)
    items_note: str = ""  # why the items pane is empty, or a read problem
    error: str | None = None  # the project could not be read at all
    mtimes: tuple[float, float] = (0.0, 0.0)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def project_mtimes(project: Path) -> tuple[float, float]:
    """Modification times of state.json and to_label.jsonl (0.0 when missing)."""
    from tunetui.runner.al import state as st

    return _mtime(project / st.STATE_FILE), _mtime(project / st.TO_LABEL_JSONL)


def load_view(project_dir: str | Path) -> ALView:
    """Read the project; problems become text on the screen, never an exception.

    The files are hand-editable input (people fix labels in them), so anything that does
    not parse is reported as damaged with the fix, instead of ending the app.
    """
    from tunetui.planner.errors import UserError
    from tunetui.runner.al import state as st

    project = Path(project_dir)
    view = ALView(mtimes=project_mtimes(project))
    try:
        from tunetui.runner.al.status import al_status

        view.status = al_status(project)
        labelled = st.load_state(project)["labelled"]
        _read_items(project, view, dict(labelled))
    except UserError as err:
        view.status, view.error = None, err.line()
    except Exception as err:  # a hand-edited file must not end the app
        view.status = None
        view.error = f"{project / st.STATE_FILE} is damaged ({err!r}). Restore it or re-run init."
    return view


def _read_items(project: Path, view: ALView, labelled: dict[str, str]) -> None:
    """to_label.jsonl into `view.items`; a missing or bad file only empties that pane."""
    from tunetui.planner.errors import UserError
    from tunetui.runner.al import state as st
    from tunetui.runner.al.io import read_rows

    path = project / st.TO_LABEL_JSONL
    if not path.is_file():
        view.items_note = f"no batch selected yet: tunetui al select {project} --k 50"
        return
    try:
        rows = read_rows(path)
    except UserError as err:
        view.items_note = err.line()
        return
    for _, row in rows[:MAX_ITEMS]:
        ident = str(row.get("id", ""))
        score = row.get("score")
        view.items.append(
            ToLabelItem(
                id=ident,
                text=str(row.get("text", "")),
                guess=None if row.get("guess") is None else str(row["guess"]),
                score=float(score) if isinstance(score, (int, float)) else None,
                label=labelled.get(ident),
            )
        )
    if not view.items:
        view.items_note = f"to_label.jsonl is empty: tunetui al select {project} --k 50"


def next_step(project: Path, status: dict[str, Any], items: list[ToLabelItem]) -> str:
    """The command that moves the loop on from where the project stands."""
    if status["stop"]["stop"]:
        return "a stopping rule fired: the labels so far are enough"
    if any(i.label is None for i in items) or status["n_in_flight"]:
        csv = project / "to_label.csv"
        return f"label it, then: tunetui al import {project} {csv}"
    if not status["rounds"] or status["rounds"][-1]["n_labels"] != status["n_labelled"]:
        return f"next: tunetui al train {project}"
    return f"next: tunetui al select {project} --k 50"


# ---------------------------------------------------------------------------- text
def summary_line(status: dict[str, Any]) -> str:
    """``labels 25/40 (15 spent, 10 seed) · pool left 90 · in flight 5 · round 3``.

    The budget counts every label, seed included (that is what the budget rule checks).
    """
    budget = status.get("budget")
    labels = f"labels {status['n_labelled']}" + (f"/{budget}" if budget else "")
    parts = [
        f"{labels} ({status['n_spent']} spent, {status['n_seed']} seed)",
        f"pool left {max(status['n_unlabelled'], 0)}",
        f"in flight {status['n_in_flight']}",
    ]
    if not budget:
        parts.append("no budget")
    return " · ".join(parts)


def decision_markup(status: dict[str, Any]) -> tuple[str, str]:
    """(markup, css class): the word STOP/CONTINUE is spelled out, so colour is optional."""
    stop = status["stop"]
    if stop["stop"]:
        return f"[b]STOP[/b] {escape(stop['reason'])}", "al-stop"
    if not status["rounds"]:
        return (
            f"[b]CONTINUE[/b] no rounds yet: tunetui al train {escape(status['project'])}",
            "al-continue",
        )
    return f"[b]CONTINUE[/b] {escape(stop['reason'])}", "al-continue"


def fmt_num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters (newlines folded, an ellipsis when cut)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


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
        decision = self.query_one("#al-decision", Static)
        decision.remove_class("al-stop", "al-continue", "al-error")
        if view.error or view.status is None:
            self.query_one("#al-summary", Static).update("cannot read the project")
            decision.update(f"[b]error:[/b] {escape(view.error or '')}")
            decision.add_class("al-error")
            return
        status = view.status
        self.query_one("#al-title", Static).update(
            escape(
                f"Active learning  {self.project.name}  ·  {status['task']}"
                + (f"  ·  {status['metric_name']}" if status["metric_name"] else "")
            )
        )
        self.query_one("#al-summary", Static).update(summary_line(status))
        markup, cls = decision_markup(status)
        decision.update(markup)
        decision.add_class(cls)
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
        left = [i for i in view.items if i.label is None]
        if not view.items:
            table.border_title = "to label next"
            table.border_subtitle = ""
            table.add_column("")
            table.add_row(Text(view.items_note))
            self._show_item_text(None)
            return
        table.border_title = f"to label next: {len(left)} of {len(view.items)} in flight"
        if view.status is not None:
            table.border_subtitle = escape(next_step(self.project, view.status, view.items))
        table.add_columns("id", "guess", "score", "label", "text")
        text_w = self._text_width(view.items)
        for item in view.items:
            table.add_row(  # Text, not str: a cell string would be read as markup
                Text(clip(item.id, 12)),
                Text(clip(item.guess or "-", 12)),
                fmt_num(item.score, 3),
                Text(clip(item.label, 10)) if item.label is not None else "·",
                Text(clip(item.text, text_w)),
            )
        table.move_cursor(row=min(keep, len(view.items) - 1))
        self._show_item_text(table.cursor_row)

    def _text_width(self, items: list[ToLabelItem]) -> int:
        """What is left of the screen width for the text column, so nothing scrolls sideways.

        Each other column is as wide as its header or widest (clipped) cell, plus one cell
        of padding each side; the table has a border and a vertical scrollbar.
        """
        widths = (
            max(2, *(min(len(i.id), 12) for i in items)),
            max(5, *(min(len(i.guess or "-"), 12) for i in items)),
            5,
            max(5, *(min(len(i.label or "·"), 10) for i in items)),
        )
        used = sum(w + 2 for w in widths) + 2 + 2 + 2  # text padding, border, scrollbar
        return max(self.size.width - used, 20)

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
