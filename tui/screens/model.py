"""Step 2: the model. Type a catalog id, a local HF folder, or keep the embedded default.

The list filters as you type; the architecture and parameter count come from the
planner's `resolve_model` in a worker thread (it may read a config.json from disk).
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from tunetui.planner.errors import UserError
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.services import ModelInfo


def model_text(info: ModelInfo) -> str:
    params = f"{info.params_b:.2f} B parameters" if info.params_b is not None else "? parameters"
    detail = f"  ({info.detail})" if info.detail else ""
    return f"{info.name}: {info.architecture}, {params}{detail}"


class ModelScreen(WizardStep):
    STEP = 2
    TITLE = "Model"

    def compose(self) -> ComposeResult:
        yield self.title_bar()
        with Vertical(classes="form"):
            yield Static("Model: catalog id, local folder, or the embedded default", classes="hint")
            yield Input(
                self.state["model"],
                placeholder="smollm2-135m or /path/to/model",
                id="model",
                compact=True,
            )
            yield Static("", id="model-info", classes="panel")
            yield OptionList(id="model-list")
        yield self.footer()

    def on_mount(self) -> None:
        self.ids = self.services.model_ids()
        self._filter(self.state["model"])
        self.describe(self.state["model"])

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        hits = [m for m in self.ids if needle in m.lower()] if needle else self.ids
        if needle in (m.lower() for m in self.ids):
            hits = self.ids  # an exact id: show the whole catalog to pick another
        listing = self.query_one("#model-list", OptionList)
        listing.clear_options()
        listing.add_options(hits[:50] or self.ids[:50])

    @on(Input.Changed, "#model")
    def _typed(self, event: Input.Changed) -> None:
        self.state["model"] = event.value.strip() or self.state["model"]
        self._filter(event.value)
        self.describe(self.state["model"])

    @on(OptionList.OptionSelected, "#model-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#model", Input).value = str(event.option.prompt)

    @work(thread=True, exclusive=True)
    def describe(self, arg: str) -> None:
        try:
            text = model_text(self.services.describe_model(arg))
        except UserError as err:
            text = f"[b]{err.line()}[/b]"
        self.app.call_from_thread(self.query_one("#model-info", Static).update, text)
