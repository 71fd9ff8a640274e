"""Step 5: how long and how to train: epochs or steps, lr and schedule, eval/save cadence,
the run's name and output folder, and loggers."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Select
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.widgets.form import row

from tunetui.options import LOGGERS, SCHEDULERS, default_learning_rate


def _opt(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class TrainingScreen(WizardStep):
    STEP = 5
    TITLE = "Training"

    def compose(self) -> ComposeResult:
        s = self.state
        yield self.title_bar()
        with VerticalScroll(classes="form"):
            yield row("run name", Input(s["name"], id="name", compact=True))
            yield row("epochs", Input(_opt(s["epochs"]), type="number", id="epochs", compact=True))
            yield row(
                "max steps",
                Input(
                    _opt(s["max_steps"]),
                    type="integer",
                    placeholder="(epochs)",
                    id="max-steps",
                    compact=True,
                ),
            )
            yield row(
                "learning rate",
                Input(_opt(s["lr"]), placeholder=self._lr_hint(), id="lr", compact=True),
            )
            yield row(
                "scheduler",
                Select(
                    [(x, x) for x in SCHEDULERS],
                    value=s["scheduler"],
                    allow_blank=False,
                    id="scheduler",
                    compact=True,
                ),
            )
            yield row(
                "eval every",
                Input(
                    _opt(s["eval_steps"]),
                    type="integer",
                    placeholder="(no eval)",
                    id="eval-steps",
                    compact=True,
                ),
            )
            yield row(
                "save every",
                Input(_opt(s["save_steps"]), type="integer", id="save-steps", compact=True),
            )
            yield row(
                "output dir",
                Input(
                    s["output_dir"] or "", placeholder="runs/<name>", id="output-dir", compact=True
                ),
            )
            yield row(
                "logger",
                Select(
                    [(x, x) for x in LOGGERS],
                    value=s["report_to"][0],
                    allow_blank=False,
                    id="logger",
                    compact=True,
                ),
            )
        yield self.footer()

    def _lr_hint(self) -> str:
        """The rate the recipe gets when the field is empty: it follows stage and method."""
        s = self.state
        return f"{default_learning_rate(s['stage'], s['method']):g} ({s['stage']} {s['method']})"

    def on_screen_resume(self) -> None:
        # Stage and method are chosen on earlier steps; the default rate follows them.
        self.query_one("#lr", Input).placeholder = self._lr_hint()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if self.take_input(event) == "eval_steps":
            # evaluating needs a held-out split
            self.state["val_size"] = 0.1 if self.state["eval_steps"] else 0.0

    @on(Select.Changed)
    def _select(self, event: Select.Changed) -> None:
        if event.select.id == "scheduler":
            self.state["scheduler"] = str(event.value)
        elif event.select.id == "logger":
            self.state["report_to"] = [str(event.value)]
