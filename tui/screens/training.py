"""Step 5: how long and how to train: epochs or steps, lr and schedule, eval/save cadence,
the run's name and output folder, and loggers."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
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
            yield self._field("run name", "name")
            yield self._field("epochs", "epochs", type="number")
            yield self._field("max steps", "max_steps", type="integer", placeholder="(epochs)")
            yield self._field("learning rate", "lr", placeholder=self._lr_hint())
            yield row("scheduler", self._choice("scheduler", SCHEDULERS, s["scheduler"]))
            yield self._field("eval every", "eval_steps", type="integer", placeholder="(no eval)")
            yield self._field("save every", "save_steps", type="integer")
            yield self._field("output dir", "output_dir", placeholder="runs/<name>")
            yield row("logger", self._choice("logger", LOGGERS, s["report_to"][0]))
        yield self.footer()

    def _field(self, label: str, name: str, **kw: str) -> Widget:
        """A labelled input for option `name` (its id: the name with dashes)."""
        box = Input(_opt(self.state[name]), id=name.replace("_", "-"), compact=True, **kw)
        return row(label, box)

    @staticmethod
    def _choice(id: str, choices: tuple[str, ...], value: str) -> Select[str]:
        return Select([(x, x) for x in choices], value=value, allow_blank=False, id=id,
                      compact=True)  # fmt: skip

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
