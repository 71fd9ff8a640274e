"""Step 4: the method. The recommendation, its alternatives, and a memory bar that follows
every change (method, bits, optimizer, precision, rank, batch, sequence length,
checkpointing).

Only the controls that mean something for the chosen method are shown (the options
table's `Option.methods`): a 4-bit selector next to full fine-tuning, or a LoRA rank next
to freeze, would suggest a choice that changes nothing. Likewise the multi-GPU strategy
only when more than one GPU is planned for (step 1, or `--gpus N`), and CPU offload only
with a strategy that shards (zero3, fsdp): the memory bar is per GPU under that strategy.
Each change asks the planner again in an exclusive worker thread: the newest request
wins, typing never waits for the estimate.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static
from tunetui.planner.errors import UserError
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.services import PlanInfo
from tunetui.tui.state import SHARDED, WizardState
from tunetui.tui.widgets.vram_bar import VramBar

from tunetui.options import ADAPTER_METHODS, BY_NAME, applies

# The method's controls, in screen order: (label, option name). Choices come from the
# option's own `choices`; the rest are whole numbers typed in.
FIELDS = (
    ("method", "method"),
    ("optimizer", "optim"),
    ("precision", "precision"),
    ("base weights", "bits"),
    ("LoRA rank", "rank"),
    ("train layers", "trainable_layers"),
    ("batch size", "batch"),
    ("grad accum", "grad_accum"),
    ("seq length", "cutoff_len"),
    ("strategy", "parallel"),
    ("offload", "offload"),
)
SELECTS = tuple(name for _, name in FIELDS if BY_NAME[name].choices)
SIZES = tuple(name for _, name in FIELDS if name not in SELECTS)


def _id(name: str) -> str:
    return name.replace("_", "-")


def shown(name: str, state: WizardState) -> bool:
    """Whether option `name`'s control is on screen for these choices (see module doc)."""
    if name == "parallel":
        return state.multi_gpu
    if name == "offload":
        return state.multi_gpu and state["parallel"] in SHARDED
    return applies(name, state["method"])


def _choice_label(name: str, value: object) -> str:
    return f"{value}-bit" if name == "bits" else str(value)


def describe_choice(rec: dict) -> str:
    """``qlora 4-bit r16, adamw_8bit, bf16, batch 4x4, seq 2048, ckpt, 5.1 GiB``.

    The optimizer and precision are part of it: two alternatives that differ only there
    (``full + 8-bit Adam``) must not read the same.
    """
    if not rec:
        return "—"
    method = str(rec.get("method", "?"))
    parts = [method]
    if rec.get("bits") and method == "qlora":
        parts[0] += f" {rec['bits']}-bit"
    if rec.get("rank") and method in ADAPTER_METHODS:
        parts.append(f"r{rec['rank']}")
    parts += [str(rec[k]) for k in ("optim", "precision") if rec.get(k)]
    parts.append(f"batch {rec.get('batch', '?')}x{rec.get('grad_accum', '?')}")
    parts.append(f"seq {rec.get('cutoff_len', '?')}")
    if rec.get("grad_ckpt"):
        parts.append("ckpt")
    if (rec.get("gpus") or 1) > 1 and rec.get("parallel") not in (None, "none"):
        parts.append(f"{rec['parallel']} x{rec['gpus']}")
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
            with Grid(id="method-grid"):
                for label, name in FIELDS:
                    field = Horizontal(Label(label), self._control(name), id=f"{_id(name)}-field",
                                       classes="field")  # fmt: skip
                    field.display = shown(name, s)
                    yield field
            yield Checkbox(ckpt_label(s["grad_ckpt"]), s["grad_ckpt"], id="grad-ckpt", compact=True)
            yield VramBar("", id="vram-bar")
        yield self.footer()

    def _control(self, name: str) -> Widget:
        """The widget for option `name` (id: the name with dashes), showing its state."""
        value = self.state[name]
        if name in SELECTS:
            choices = [(_choice_label(name, c), c) for c in BY_NAME[name].choices or ()]
            if value is None:  # bits of a method with no quantized base: qlora's default
                value = choices[0][1]
            return Select(choices, value=value, allow_blank=False, id=_id(name), compact=True)
        return Input(str(value), type="integer", id=_id(name), compact=True)

    def on_mount(self) -> None:
        self.plan: PlanInfo = PlanInfo()

    def on_screen_resume(self) -> None:
        # The model, GPU or cutoff may have changed on another step. After a refresh: on
        # the first show the grid's fields may not be mounted yet when this arrives.
        self.call_after_refresh(self._resumed)

    def _resumed(self) -> None:
        s = self.state
        with self.prevent(Input.Changed, Select.Changed):  # showing must not write it back
            self.query_one("#cutoff-len", Input).value = str(s["cutoff_len"])
            self.query_one("#parallel", Select).value = s["parallel"]  # step 1 offers them too
            self.query_one("#offload", Select).value = s["offload"]
        self._show_applicable()
        self.replan()

    def _show_applicable(self) -> None:
        """Show the controls that apply to these choices, hide the others."""
        for _, name in FIELDS:
            self.query_one(f"#{_id(name)}-field").display = shown(name, self.state)

    @on(Select.Changed)
    def _select(self, event: Select.Changed) -> None:
        name = (event.select.id or "").replace("-", "_")
        if name == "method":
            self.state.set_method(str(event.value))
            if self.state["method"] == "qlora":
                self.state["bits"] = int(self.query_one("#bits", Select).value)  # type: ignore[arg-type]
            self._show_applicable()
        elif name == "bits":
            if self.state["method"] == "qlora":
                self.state["bits"] = int(event.value)  # type: ignore[arg-type]
        elif name == "parallel":
            self.state.set_parallel(str(event.value))
            with self.prevent(Select.Changed):
                self.query_one("#offload", Select).value = self.state["offload"]
            self._show_applicable()
        elif name in SELECTS:
            self.state[name] = str(event.value)
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
            for name in SELECTS:
                if s[name] is not None:
                    self.query_one(f"#{_id(name)}", Select).value = s[name]
            for name in SIZES:
                self.query_one(f"#{_id(name)}", Input).value = str(s[name])
            ckpt = self.query_one("#grad-ckpt", Checkbox)
            ckpt.value = s["grad_ckpt"]
            ckpt.label = ckpt_label(s["grad_ckpt"])
        self._show_applicable()
        self.replan()
