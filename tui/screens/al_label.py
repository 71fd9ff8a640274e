"""`tunetui al label DIR`: label the batch in flight one item at a time, in the terminal.

The item's text fills the middle; above it, the progress; below it, the model's guess and
its uncertainty, then the label keys (``1`` ``2`` ... for a label set) or a text box (free
answers for generation projects). Every answer, skip and undo is saved at once to
``DIR/labelling.json`` (`runner.al.labelling`), so a dropped SSH session loses nothing and
the next `al label` resumes at the first open item. Leaving (``q``/``esc``) merges the
answers into the project, validated like `al import`; then ``tunetui al train DIR``.

What is shown and what a key does is worked out by `tui.allabel.LabelSession` (no
Textual); this module only puts it into widgets.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from tunetui.planner.errors import UserError
from tunetui.tui.allabel import LabelSession
from tunetui.tui.alview import fmt_num


class LabelScreen(Screen[int]):
    """One item at a time; dismisses with the number of labels merged into the project."""

    DEFAULT_CSS = """
    LabelScreen #lab-progress { height: 1; padding: 0 1; }
    LabelScreen #lab-text-box { height: 1fr; border: round $primary; padding: 0 1; }
    LabelScreen #lab-guess { height: 1; padding: 0 1; color: $text-muted; }
    LabelScreen #lab-answer { height: 1; padding: 0 1; }
    LabelScreen #lab-choices { height: 1; padding: 0 1; color: $accent; }
    LabelScreen #lab-note { height: 1; padding: 0 1; color: $warning; }
    LabelScreen Input { height: 3; }
    """

    BINDINGS = [
        Binding("pageup,left", "back", "Back"),
        Binding("pagedown,right", "next", "Next", show=False),
        Binding("ctrl+s", "skip", "Skip"),
        Binding("ctrl+z", "undo", "Undo"),
        Binding("escape", "leave", "Save & quit"),
    ]
    # A label set also gets plain keys (there is no text box to type into).
    SET_KEYS = {"s": "skip", "b": "back", "n": "next", "u": "undo", "q": "leave"}

    def __init__(self, project_dir: str | Path) -> None:
        super().__init__()
        self.project = Path(project_dir)
        self.session = LabelSession.open(self.project)
        self.merged: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="lab-progress")
        with VerticalScroll(id="lab-text-box"):
            yield Static(id="lab-text")
        yield Static(id="lab-guess")
        yield Static(id="lab-answer")
        yield Static(id="lab-choices")
        if self.session.typed:
            yield Input(placeholder="answer, then Enter", id="lab-input")
        yield Static(id="lab-note")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Label  {self.project.name}"
        self.show()

    # -- painting ------------------------------------------------------------------------
    def show(self, note: str = "") -> None:
        s = self.session
        item = s.item
        self.query_one("#lab-progress", Static).update(escape(s.progress_line()))
        box = self.query_one("#lab-text-box", VerticalScroll)
        box.border_title = escape(item.id)
        self.query_one("#lab-text", Static).update(escape(item.text))
        score = "-" if item.score is None else fmt_num(item.score, 3)
        guess = "-" if item.guess is None else item.guess
        self.query_one("#lab-guess", Static).update(
            escape(f"model's guess: {guess} · uncertainty {score}")
        )
        answer = s.answer_of(item.id)
        state = (
            f"answer: {answer}"
            if answer is not None
            else "skipped"
            if item.id in s.saved.skipped
            else "no answer yet"
        )
        if s.done:
            state += "  ·  all answered: esc saves them into the project"
        self.query_one("#lab-answer", Static).update(escape(state))
        self.query_one("#lab-choices", Static).update(escape(s.choices_line()))
        self.query_one("#lab-note", Static).update(escape(note))

    # -- keys ----------------------------------------------------------------------------
    def on_key(self, event) -> None:  # noqa: ANN001 - textual's Key event
        """Number keys answer and letters are commands when answers come from a small label
        set; with a text box (free answers, or more than 9 labels) keys are typing."""
        if self.session.typed:
            return
        label = self.session.label_for_key(event.key)
        if label is not None:
            event.stop()
            self.session.answer(label)
            self.show()
        elif event.key in self.SET_KEYS:
            event.stop()
            getattr(self, f"action_{self.SET_KEYS[event.key]}")()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.session.answer(event.value)
        except UserError as err:
            self.show(err.line())
            return
        event.input.value = ""
        self.show()

    def action_back(self) -> None:
        self.session.move(-1)
        self.show()

    def action_next(self) -> None:
        self.session.move(1)
        self.show()

    def action_skip(self) -> None:
        self.session.skip()
        self.show()

    def action_undo(self) -> None:
        self.show("" if self.session.undo() else "nothing to undo")

    def action_leave(self) -> None:
        """Merge the answers into the project and leave (the app exits with the count)."""
        from tunetui.runner.al.labelling import merge_answers

        try:
            self.merged = merge_answers(self.project)
        except UserError as err:
            self.show(err.line())
            return
        if isinstance(self.app, LabelApp):
            self.app.exit(self.merged)
        else:
            self.dismiss(self.merged)


class LabelApp(App[int]):
    """A standalone app around one `LabelScreen` (``tunetui al label DIR``)."""

    CSS_PATH = "../tunetui.tcss"
    TITLE = "tunetui"
    BINDINGS = [Binding("ctrl+q", "leave", "Save & quit", priority=True)]

    def __init__(self, project_dir: str | Path) -> None:
        super().__init__()
        self.project = Path(project_dir)

    def on_mount(self) -> None:
        self.push_screen(LabelScreen(self.project))

    def action_leave(self) -> None:
        screen = self.screen
        if isinstance(screen, LabelScreen):
            screen.action_leave()
        else:
            self.exit(0)


def run_label_app(project_dir: str | Path) -> int | None:
    """Label the batch in flight; returns how many labels were merged. A project with
    nothing in flight is a `UserError` before any UI starts."""
    LabelSession.open(project_dir)  # raises UserError with the fix
    return LabelApp(project_dir).run()
