"""Step 3: the data. Datasets by name from a dataset_info.json folder (default: the
shipped demos), the stage and the cutoff length.

Only the datasets that can be read here are listed (a real LLaMA-Factory folder names ~100,
most of them on a hub), and the whole step scrolls (PageDown), so the format, lengths and
previews stay reachable on 80x24.

Format detection, three previews and length statistics are computed in a worker thread
from the files alone (no model load), a moment after typing stops.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, Select, Static
from tunetui.planner.errors import UserError
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.services import DataInfo
from tunetui.tui.widgets.form import row

from tunetui.options import STAGES


def data_text(info: DataInfo, cutoff_len: int) -> str:
    if info.error:
        return f"[b]{info.error}[/b]"
    lines = [*info.formats, f"{info.total} samples in all"]
    if info.p50 is not None:
        over = " (some longer than cutoff: truncated)" if (info.max or 0) > cutoff_len else ""
        lines.append(
            f"length {info.unit}: p50 {info.p50}  p95 {info.p95}  max {info.max}"
            f"  vs cutoff_len {cutoff_len}{over}"
        )
    for i, sample in enumerate(info.previews, 1):
        lines.append(f"── sample {i} ──")
        lines.append(sample if len(sample) < 400 else sample[:400] + "…")
    return "\n".join(lines)


def known_text(names: list[str], hidden: int) -> str:
    """The usable datasets, and how many entries were left out (on a hub, or missing)."""
    left = f"; {hidden} more in dataset_info.json are on a hub or missing here" if hidden else ""
    return (
        f"available here: {', '.join(names) or 'none'}{left}"
        " (or paths to .json/.jsonl files, comma-separated)"
    )


class DataScreen(WizardStep):
    STEP = 3
    TITLE = "Data"

    def compose(self) -> ComposeResult:
        s = self.state
        yield self.title_bar()
        with VerticalScroll(classes="form", id="data-form"):
            yield row("datasets", Input(",".join(s["dataset"]), id="dataset", compact=True))
            yield row(
                "dataset dir",
                Input(
                    s["dataset_dir"] or "",
                    placeholder="shipped demos",
                    id="dataset-dir",
                    compact=True,
                ),
            )
            yield row(
                "stage",
                Select(
                    [(x, x) for x in STAGES],
                    value=s["stage"],
                    allow_blank=False,
                    id="stage",
                    compact=True,
                ),
            )
            with Horizontal(classes="row"):
                yield Label("cutoff_len")
                yield Input(str(s["cutoff_len"]), type="integer", id="cutoff-len", compact=True)
                yield Label("template", classes="inline-label")
                yield Input(s["template"], placeholder="auto", id="template", compact=True)
            yield Static("", id="known", classes="hint")
            with Vertical(classes="panel", id="data-box"):
                yield Static("reading data…", id="data-info")
        yield self.footer()

    def on_mount(self) -> None:
        self._model = self.state["model"]
        self.refresh_info()

    def on_screen_resume(self) -> None:
        # Previews use the model's chat template and tokenizer: redo them for a new model.
        if self.state["model"] != getattr(self, "_model", self.state["model"]):
            self._model = self.state["model"]
            self.refresh_info()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if self.take_input(event):
            self.refresh_info()

    @on(Select.Changed, "#stage")
    def _stage(self, event: Select.Changed) -> None:
        self.state["stage"] = str(event.value)
        self.refresh_info()

    @work(thread=True, exclusive=True, group="data")
    def refresh_info(self) -> None:
        import time

        time.sleep(0.2)  # debounce: an exclusive worker is cancelled by the next keypress
        from textual.worker import get_current_worker

        if get_current_worker().is_cancelled:
            return
        state = self.state
        try:
            known = known_text(*self.services.dataset_names(state["dataset_dir"]))
            info = self.services.data_info(state.to_recipe())
        except UserError as err:
            info = DataInfo(error=err.line())
        except ValueError as err:  # pydantic: a value the schema refuses
            info = DataInfo(error=str(err).splitlines()[0])
            known = ""
        if get_current_worker().is_cancelled:
            return
        text = data_text(info, state["cutoff_len"])
        self.app.call_from_thread(self._show, known, text)

    def _show(self, known: str, text: str) -> None:
        self.query_one("#known", Static).update(known)
        self.query_one("#data-info", Static).update(text)
