"""What every wizard screen shares: title line, footer of keys, back/next keys.

Same keys on every step: ``ctrl+n`` next, ``escape`` back, ``ctrl+o`` runs, ``ctrl+q``
quit. Screens are installed once and switched between, so their widgets (and anything
half typed) survive going back and forth; the values themselves live in `WizardState`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from tunetui.tui.widgets.form import parse_option

from tunetui.options import BY_NAME

if TYPE_CHECKING:
    from tunetui.tui.app import TuneApp
    from tunetui.tui.services import Services
    from tunetui.tui.state import WizardState


class WizardStep(Screen[None]):
    """Base for the six steps; subclasses set `STEP` and `TITLE`, and compose `body()`."""

    STEP = 0
    TITLE = ""
    BINDINGS = [
        Binding("ctrl+n", "next_step", "Next", priority=True),
        Binding("escape", "prev_step", "Back"),
        Binding("ctrl+o", "app.show_runs", "Runs"),
    ]

    @property
    def tapp(self) -> TuneApp:
        return self.app  # type: ignore[return-value]

    @property
    def state(self) -> WizardState:
        return self.tapp.state

    @property
    def services(self) -> Services:
        return self.tapp.services

    def title_bar(self) -> Static:
        return Static(self._title_text(), classes="step-title", id="step-title")

    def _title_text(self) -> str:
        """The steps, and after the first one what the plan is for: every estimate on
        these steps is for that target, so it stays in sight (a catalog GPU says so)."""
        from tunetui.tui.app import STEPS

        names = "  ".join(
            f"[reverse] {i + 1} {title} [/]" if i + 1 == self.STEP else f"{i + 1} {title}"
            for i, (title, _) in enumerate(STEPS)
        )
        target = self.state.target_text if self.STEP > 1 else ""
        return f"{names}\nplanning for: [b]{target}[/b]" if target else names

    @on(events.ScreenResume)
    def _retitle(self) -> None:
        # The target may have been changed on step 1 since this screen was composed.
        self.query_one("#step-title", Static).update(self._title_text())

    def footer(self) -> Footer:
        return Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide (and disable) Back on the first step and Next on the last."""
        from tunetui.tui.app import STEPS

        first, last = self.STEP <= 1, len(STEPS) <= self.STEP
        return not ((action == "prev_step" and first) or (action == "next_step" and last))

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        """Enter in a field means "done here": the next step (review: save)."""
        event.stop()
        self.submit()

    def take_input(self, event: Input.Changed) -> str | None:
        """Store a field's text in the state when the field is an option (its id is the
        option's name with dashes: ``cutoff-len``); the option's name when it changed."""
        name = (event.input.id or "").replace("-", "_")
        if name not in BY_NAME:
            return None
        value = parse_option(name, event.value, self.state[name])
        if value == self.state[name]:
            return None
        self.state[name] = value
        return name

    def submit(self) -> None:
        self.action_next_step()

    def action_next_step(self) -> None:
        self.tapp.go(self.STEP + 1)

    def action_prev_step(self) -> None:
        if self.STEP > 1:
            self.tapp.go(self.STEP - 1)
