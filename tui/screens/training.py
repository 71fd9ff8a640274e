"""Step 5: how long and how to train: epochs or steps, lr and schedule, eval/save cadence,
the run's name and output folder, and loggers."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Select
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.state import LOGGERS, SCHEDULERS
from tunetui.tui.widgets.form import parse_float, parse_int, row


def _opt(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class TrainingScreen(WizardStep):
    STEP = 5
    TITLE = "Training"

    def compose(self) -> ComposeResult:
        s = self.state
        yield self.title_bar()
        with VerticalScroll(classes="form"):
            yield row("run name", Input(s.name, id="name", compact=True))
            yield row("epochs", Input(_opt(s.epochs), type="number", id="epochs", compact=True))
            yield row(
                "max steps",
                Input(
                    _opt(s.max_steps),
                    type="integer",
                    placeholder="(epochs)",
                    id="max-steps",
                    compact=True,
                ),
            )
            yield row("learning rate", Input(_opt(s.learning_rate), id="lr", compact=True))
            yield row(
                "scheduler",
                Select(
                    [(x, x) for x in SCHEDULERS],
                    value=s.lr_scheduler,
                    allow_blank=False,
                    id="scheduler",
                    compact=True,
                ),
            )
            yield row(
                "eval every",
                Input(
                    _opt(s.eval_steps),
                    type="integer",
                    placeholder="(no eval)",
                    id="eval-steps",
                    compact=True,
                ),
            )
            yield row(
                "save every",
                Input(_opt(s.save_steps), type="integer", id="save-steps", compact=True),
            )
            yield row(
                "output dir",
                Input(s.output_dir or "", placeholder="runs/<name>", id="output-dir", compact=True),
            )
            yield row(
                "logger",
                Select(
                    [(x, x) for x in LOGGERS],
                    value=s.report_to[0],
                    allow_blank=False,
                    id="logger",
                    compact=True,
                ),
            )
        yield self.footer()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        s, text, key = self.state, event.value, event.input.id
        if key == "name":
            s.name = text.strip() or s.name
        elif key == "epochs":
            s.epochs = parse_float(text) or s.epochs
        elif key == "max-steps":
            s.max_steps = parse_int(text) if text.strip() else None
        elif key == "lr":
            s.learning_rate = parse_float(text) or s.learning_rate
        elif key == "eval-steps":
            s.eval_steps = parse_int(text) if text.strip() else None
            s.val_size = 0.1 if s.eval_steps else 0.0  # evaluating needs a held-out split
        elif key == "save-steps":
            s.save_steps = parse_int(text) or s.save_steps
        elif key == "output-dir":
            s.output_dir = text.strip() or None

    @on(Select.Changed)
    def _select(self, event: Select.Changed) -> None:
        if event.select.id == "scheduler":
            self.state.lr_scheduler = str(event.value)
        elif event.select.id == "logger":
            self.state.report_to = [str(event.value)]
