"""Step 6: the recipe as YAML. Save it, launch it, or copy the equivalent headless line.

The YAML is rebuilt from `WizardState` every time the screen shows, with the same
`dump_recipe` that `tunetui init --headless` writes, so what is shown is what is saved.
What Save, Launch and Copy did is said on a status line above the buttons, not in a
toast: toasts open bottom right, over the very buttons the user is about to press. The
cheap doctor checks (`tunetui doctor`) are shown too: `tunetui run` refuses on an error.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static, TextArea
from tunetui.planner.errors import UserError
from tunetui.runner.doctor import Check
from tunetui.runner.recipe import Recipe
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.state import headless_command


def doctor_text(checks: list[Check]) -> str:
    """One line when every check passed; otherwise the problems, one per line, errors
    first (`tunetui run` refuses to start on an error)."""
    bad = sorted((c for c in checks if c.status in ("error", "warn")), key=lambda c: c.status)
    if not bad:
        return f"doctor: {len(checks)} checks ok (versions, EOS, disk, memory)"
    return "\n".join(f"doctor {c.status}: {c.name}: {c.message}" for c in bad)


def recipe_yaml(recipe) -> str:  # noqa: ANN001 - a Recipe
    from tunetui.runner.recipe_io import dump_recipe

    return dump_recipe(recipe)


class ReviewScreen(WizardStep):
    STEP = 6
    TITLE = "Review"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+r", "launch", "Launch", priority=True),
        Binding("ctrl+y", "copy_command", "Copy cmd", priority=True),
    ]

    def compose(self) -> ComposeResult:
        yield self.title_bar()
        with Vertical(classes="form"):
            yield TextArea("", read_only=True, id="recipe-yaml", language=None)
            yield Static("", id="command", classes="hint")
            yield Static("doctor: checking…", id="doctor", classes="hint")
            yield Static("", id="status", classes="hint")
            with Horizontal(id="review-actions"):
                yield Input(self.state.recipe_path, id="recipe-path", compact=True)
                yield Button("Save", id="save", compact=True)
                yield Button("Launch", id="launch", variant="primary", compact=True)
        yield self.footer()

    def on_mount(self) -> None:
        self.rebuild()

    def on_screen_resume(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        try:
            recipe = self.state.to_recipe()
        except (UserError, ValueError) as err:
            line = err.line() if isinstance(err, UserError) else str(err).splitlines()[0]
            self.query_one("#recipe-yaml", TextArea).text = f"# invalid choice: {line}"
            self.command = ""
            return
        self.query_one("#recipe-yaml", TextArea).text = recipe_yaml(recipe)
        self.command = headless_command(recipe, self.state.recipe_path)
        self.query_one("#command", Static).update(self.command)
        self.check(recipe)

    @work(thread=True, exclusive=True, group="doctor")
    def check(self, recipe: Recipe) -> None:
        """The cheap doctor checks `tunetui run` makes before it starts (a worker thread:
        they read the tokenizer and ask the planner)."""
        text = doctor_text(self.services.doctor(recipe, self.state.gpu_key or "auto"))
        self.app.call_from_thread(self.query_one("#doctor", Static).update, text)

    @on(Input.Changed, "#recipe-path")
    def _path(self, event: Input.Changed) -> None:
        self.state.recipe_path = event.value.strip() or "recipe.yaml"
        self.rebuild()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "launch":
            self.action_launch()

    def save(self) -> Path | None:
        """Write the recipe atomically. None (and a one-line message) on error.

        An existing file is never replaced, except the one this wizard itself saved
        earlier in this session: saving again after a change is what the user expects.
        """
        from tunetui.runner.recipe_io import save_recipe

        target = Path(self.state.recipe_path)
        ours = self.tapp.saved_recipe
        overwrite = ours is not None and ours.resolve() == target.resolve()
        try:
            path = Path(save_recipe(self.state.to_recipe(), target, overwrite=overwrite))
        except (UserError, ValueError) as err:
            line = err.line() if isinstance(err, UserError) else str(err).splitlines()[0]
            self.say(line, error=True)
            return None
        self.tapp.saved_recipe = path
        self.say(f"saved {path} · start it with Launch, or: tunetui run {path}")
        return path

    def say(self, text: str, error: bool = False) -> None:
        """Report what an action did on the status line (errors in bold, with a bell)."""
        self.query_one("#status", Static).update(Text(text, style="bold" if error else ""))
        if error:
            self.app.bell()

    def action_save(self) -> None:
        self.save()

    def submit(self) -> None:
        self.save()

    def action_launch(self) -> None:
        # Launch only what is on screen: never a different file that happens to exist.
        path = self.save()
        if path is not None:
            self.launch(path)

    @work(thread=True, exclusive=True)
    def launch(self, path: Path) -> None:
        try:
            run_dir = self.services.launch(path)
        except UserError as err:
            self.app.call_from_thread(self.say, err.line(), True)
            return
        self.app.call_from_thread(self.tapp.open_dashboard, run_dir)

    def action_copy_command(self) -> None:
        self.app.copy_to_clipboard(self.command)
        self.say("copied (OSC 52): " + self.command)
