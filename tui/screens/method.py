"""Step 4: the method. The recommendation, its alternatives, and a VRAM bar that follows
every change (method, bits, rank, batch, sequence length, checkpointing).

Each change asks the planner again in an exclusive worker thread: the newest request
wins, typing never waits for the estimate.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Select, Static
from tunetui.planner.errors import UserError
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.services import PlanInfo
from tunetui.tui.widgets.form import row
from tunetui.tui.widgets.vram_bar import VramBar

from tunetui.options import ADAPTER_METHODS, METHODS

BITS = [("4-bit", 4), ("8-bit", 8)]
# The size fields, each an option of `tunetui.options` (its widget id: the name with dashes).
SIZES = (
    ("LoRA rank", "rank"),
    ("batch size", "batch"),
    ("grad accum", "grad_accum"),
    ("seq length", "cutoff_len"),
)


def _id(name: str) -> str:
    return name.replace("_", "-")


def describe_choice(rec: dict) -> str:
    """``qlora 4-bit r16, batch 4x4, seq 2048, ckpt`` from a recommendation dict."""
    if not rec:
        return "—"
    parts = [str(rec.get("method", "?"))]
    if rec.get("bits"):
        parts[0] += f" {rec['bits']}-bit"
    if rec.get("rank") and rec.get("method") in ADAPTER_METHODS:
        parts.append(f"r{rec['rank']}")
    parts.append(f"batch {rec.get('batch', '?')}x{rec.get('grad_accum', '?')}")
    parts.append(f"seq {rec.get('cutoff_len', '?')}")
    if rec.get("grad_ckpt"):
        parts.append("ckpt")
    gib = rec.get("total_gib") or rec.get("vram_gib")
    if isinstance(gib, (int, float)):
        parts.append(f"{gib:.1f} GiB")
    return ", ".join(parts)


def ckpt_label(on: bool) -> str:
    """Spelled out, so the state reads without colour (NO_COLOR, monochrome)."""
    return f"gradient checkpointing: {'ON' if on else 'off'} (less memory, ~30% slower)"


class MethodScreen(WizardStep):
    STEP = 4
    TITLE = "Method"
    BINDINGS = [Binding("ctrl+r", "use_recommended", "Use recommended")]

    def compose(self) -> ComposeResult:
        s = self.state
        yield self.title_bar()
        with Vertical(classes="form"):
            yield Static("asking the planner…", id="recommended", classes="hint")
            with Horizontal(classes="row", id="method-row"):
                yield Select(
                    [(m, m) for m in METHODS],
                    value=s["method"],
                    allow_blank=False,
                    id="method",
                    compact=True,
                )
                yield Select(BITS, value=s["bits"] or 4, allow_blank=False, id="bits", compact=True)
            for label, name in SIZES:
                yield row(label, Input(str(s[name]), type="integer", id=_id(name), compact=True))
            yield Checkbox(ckpt_label(s["grad_ckpt"]), s["grad_ckpt"], id="grad-ckpt", compact=True)
            yield VramBar("", id="vram-bar")
        yield self.footer()

    def on_mount(self) -> None:
        self.plan: PlanInfo = PlanInfo()
        self._sync_bits()

    def on_screen_resume(self) -> None:
        # The model, GPU or cutoff may have changed on another step.
        self.query_one("#cutoff-len", Input).value = str(self.state["cutoff_len"])
        self.replan()

    def _sync_bits(self) -> None:
        self.query_one("#bits", Select).disabled = self.state["method"] != "qlora"

    @on(Select.Changed)
    def _select(self, event: Select.Changed) -> None:
        if event.select.id == "method":
            self.state.set_method(str(event.value))
            if self.state["method"] == "qlora":
                self.state["bits"] = int(self.query_one("#bits", Select).value)  # type: ignore[arg-type]
            self._sync_bits()
        elif event.select.id == "bits" and self.state["method"] == "qlora":
            self.state["bits"] = int(event.value)  # type: ignore[arg-type]
        self.replan()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if self.take_input(event):
            self.replan()

    @on(Checkbox.Changed, "#grad-ckpt")
    def _ckpt(self, event: Checkbox.Changed) -> None:
        self.state["grad_ckpt"] = event.value
        event.checkbox.label = ckpt_label(event.value)
        self.replan()

    @work(thread=True, exclusive=True, group="plan")
    def replan(self) -> None:
        try:
            request = self.state.plan_request()
        except UserError as err:  # a value the recipe schema refuses (typed on another step)
            self.app.call_from_thread(self._show, PlanInfo(error=err.line()))
            return
        plan = self.services.plan(request)
        self.app.call_from_thread(self._show, plan)

    def _show(self, plan: PlanInfo) -> None:
        self.plan = plan
        self.query_one("#vram-bar", VramBar).show(plan)
        alts = "; ".join(describe_choice(a) for a in plan.alternatives[:2])
        text = f"recommended (^r): {describe_choice(plan.recommendation)}"
        if alts:
            text += f"\nalternatives: {alts}"
        self.query_one("#recommended", Static).update(text)

    def action_use_recommended(self) -> None:
        if not self.plan.recommendation:
            self.notify("No recommendation yet.", severity="warning")
            return
        s = self.state
        s.apply_recommendation(self.plan.recommendation)
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            self.query_one("#method", Select).value = s["method"]
            if s["bits"]:
                self.query_one("#bits", Select).value = s["bits"]
            for _, name in SIZES:
                self.query_one(f"#{_id(name)}", Input).value = str(s[name])
            ckpt = self.query_one("#grad-ckpt", Checkbox)
            ckpt.value = s["grad_ckpt"]
            ckpt.label = ckpt_label(s["grad_ckpt"])
        self._sync_bits()
        self.replan()
