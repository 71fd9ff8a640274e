"""Step 1: what this machine has, and what to plan for.

The probe runs in a worker thread so the first paint is not held up by NVML. The list
offers this machine first (its GPUs, then its CPU: on a machine with no GPU the CPU is the
first choice, since that is where a run started here trains), then, under their own
heading, the catalog GPUs: planning for the server one will rent is an explicit choice,
never a default that makes a laptop look like a P100.

Several GPUs of one kind are one entry ("8 x H100"): a run uses them together. Under the
probe, a GPU target has a count (the recipe's ``gpus``; a catalog GPU's machine is
described by typing it), and when that is more than one the strategy (and, for the
sharded ones, CPU offload) is offered, the same options `init --headless --parallel
--gpus --offload` writes.
"""

from __future__ import annotations

from itertools import groupby

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.services import GpuChoice, MachineView
from tunetui.tui.state import CPU_KEY, SHARDED

from tunetui.options import OFFLOADS, PARALLELS

CATALOG_HEADING = "── or plan for another machine: a catalog GPU ──"


def hardware_text(hw: MachineView) -> str:
    """The probe result in a few lines."""

    def gib(value: float | None) -> str:
        return "?" if value is None else f"{value:.1f} GiB"

    lines, first = [], 0
    if hw.gpus:
        for group in gpu_groups(hw.gpus):
            g, n, last = group[0], len(group), first + len(group) - 1
            if n == 1:
                lines.append(f"GPU {first}: {g.name}  {gib(g.memory_gib)} total, "
                             f"{gib(g.free_gib)} free")  # fmt: skip
            else:
                frees = [x.free_gib for x in group if x.free_gib is not None]
                free = f"{min(frees):.1f}-{max(frees):.1f} GiB" if frees else "?"
                lines.append(f"GPU {first}-{last}: {n} x {g.name}  {gib(g.memory_gib)} each, "
                             f"{free} free")  # fmt: skip
            first = last + 1
    else:
        reason = f" ({hw.note})" if hw.note else ""
        lines.append(f"No GPU found{reason}. Runs started here train on the CPU.")
    lines.append(
        f"CPU: {hw.cpu_cores or '?'} cores   RAM: {gib(hw.ram_gib)} ({gib(hw.ram_free_gib)} free)"
        f"   disk free: {gib(hw.disk_free_gib)}"
    )
    return "\n".join(lines)


def gpu_groups(gpus: list[GpuChoice]) -> list[list[GpuChoice]]:
    """Neighbouring GPUs of the same kind, together (NVML lists a server's GPUs in order)."""
    return [list(group) for _, group in groupby(gpus, key=lambda g: g.name)]


def group_choice(group: list[GpuChoice]) -> GpuChoice:
    """One plan target for several GPUs of a kind: sized by the fullest (least free)."""
    frees = [g.free_gib for g in group if g.free_gib is not None]
    return GpuChoice(group[0].name, group[0].memory_gib, min(frees) if frees else None)


def cpu_choice(hw: MachineView) -> GpuChoice:
    """This machine's CPU as a plan target: sized against RAM (the planner's ``gpu="cpu"``)."""
    cores = f", {hw.cpu_cores} cores" if hw.cpu_cores else ""
    return GpuChoice(f"CPU{cores}", hw.ram_gib or 0.0, hw.ram_free_gib, key=CPU_KEY)


def choice_option(choice: GpuChoice | None, count: int = 1) -> Option:
    """One line of the list: this machine's GPUs (a kind at a time) and CPU, then (under
    the heading) the catalog's GPUs, each with its memory."""
    if choice is None:
        return Option(CATALOG_HEADING, disabled=True)
    if choice.key == CPU_KEY:
        return Option(f"this machine: {choice.name}, {choice.memory_gib:.0f} GiB RAM")
    if choice.key is None and count > 1:
        return Option(f"this machine: {count} x {choice.name}  {choice.memory_gib:.0f} GiB each")
    if choice.key is None:
        return Option(f"this machine: {choice.name}  {choice.memory_gib:.0f} GiB")
    return Option(f"   {choice.name}  {choice.memory_gib:.0f} GiB")


class HardwareScreen(WizardStep):
    STEP = 1
    TITLE = "Hardware"
    DEFAULT_CSS = """
    #gpu-row { height: 1; margin-bottom: 1; display: none; }
    #gpu-row Label { width: auto; padding: 0 1 0 0; }
    """
    # Inline: the app's `.form Input, .form Select { width: 1fr }` outranks DEFAULT_CSS.
    WIDTHS = {"#gpus": 6, "#parallel": 14, "#offload": 12}

    def compose(self) -> ComposeResult:
        s = self.state
        yield self.title_bar()
        with Vertical(classes="form"):
            yield Static("probing hardware…", id="hw-text", classes="panel")
            with Horizontal(id="gpu-row"):
                yield Label("GPUs", classes="gpus")
                yield Input(str(s.planned_gpus), type="integer", id="gpus", compact=True)
                yield Label("strategy", classes="multi")
                yield Select([(p, p) for p in PARALLELS], value=s["parallel"], id="parallel",
                             allow_blank=False, compact=True, classes="multi")  # fmt: skip
                yield Label("offload", classes="offload")
                yield Select([(o, o) for o in OFFLOADS], value=s["offload"], id="offload",
                             allow_blank=False, compact=True, classes="offload")  # fmt: skip
            yield Static("Plan for (Enter picks, ctrl+n goes on):", classes="hint")
            yield OptionList(id="gpu-list")
        yield self.footer()

    def on_mount(self) -> None:
        for selector, width in self.WIDTHS.items():
            widget = self.query_one(selector)
            widget.styles.width = width
            widget.styles.margin = (0, 3, 0, 0)
        # After the first paint: the probe's imports would otherwise compete for the GIL.
        self.call_after_refresh(self.probe)

    def on_screen_resume(self) -> None:
        # The strategy may have been changed on the method step since this was shown.
        if getattr(self, "choices", None) is not None:
            self._show_spread()

    @work(thread=True, exclusive=True)
    def probe(self) -> None:
        hw = self.tapp.hardware()
        catalog = self.services.catalog_gpus()
        self.app.call_from_thread(self._show, hw, catalog)

    def _show(self, hw: MachineView, catalog: list[GpuChoice]) -> None:
        self.query_one("#hw-text", Static).update(hardware_text(hw))
        groups = gpu_groups(hw.gpus)
        # One entry per option line; None for the heading (disabled, never chosen); the
        # counts: how many GPUs each entry stands for.
        self.choices: list[GpuChoice | None] = [
            *(group_choice(g) for g in groups),
            cpu_choice(hw),
            None,
            *catalog,
        ]
        self.counts = [len(g) for g in groups] + [1] * (len(self.choices) - len(groups))
        listing = self.query_one("#gpu-list", OptionList)
        listing.clear_options()
        listing.add_options(
            [choice_option(c, n) for c, n in zip(self.choices, self.counts, strict=True)]
        )
        chosen = next((i for i, c in enumerate(self.choices) if c and self._is_chosen(c)), 0)
        listing.highlighted = chosen
        if self.state.gpu_name is None:
            self._choose(chosen)
        self._show_spread()
        listing.focus()

    def _is_chosen(self, choice: GpuChoice) -> bool:
        return choice.name == self.state.gpu_name and choice.key == self.state.gpu_key

    def _choose(self, index: int) -> None:
        choice = self.choices[index]
        if choice is None:  # the heading
            return
        s = self.state
        if s.gpu_name is not None and not self._is_chosen(choice):
            s["gpus"] = None  # a count typed for another target is not this one's
        s.gpu_name, s.gpu_key, s.gpu_memory_gib = choice.name, choice.key, choice.memory_gib
        s.gpu_count = self.counts[index]
        self._show_spread()

    def _show_spread(self) -> None:
        """The count for a GPU target; the strategy when it is more than one GPU; offload
        when the strategy shards. Shows the state, never writes it."""
        s = self.state
        self.query_one("#gpu-row").display = s.gpu_name is not None and s.gpu_key != CPU_KEY
        for widget in self.query("#gpu-row .multi"):
            widget.display = s.multi_gpu
        for widget in self.query("#gpu-row .offload"):
            widget.display = s.multi_gpu and s["parallel"] in SHARDED
        with self.prevent(Input.Changed, Select.Changed):
            count = self.query_one("#gpus", Input)
            if count.value.strip() != str(s.planned_gpus) and not count.has_focus:
                count.value = str(s.planned_gpus)
            self.query_one("#parallel", Select).value = s["parallel"]
            self.query_one("#offload", Select).value = s["offload"]
        self._retitle()

    @on(Input.Changed, "#gpus")
    def _count(self, event: Input.Changed) -> None:
        s = self.state
        if s["gpus"] is None and event.value.strip() == str(s.planned_gpus):
            return  # the count shown (every GPU of the kind) is not a choice of a count
        if self.take_input(event):
            self._show_spread()

    @on(Select.Changed, "#parallel")
    def _strategy(self, event: Select.Changed) -> None:
        self.state.set_parallel(str(event.value))
        self._show_spread()

    @on(Select.Changed, "#offload")
    def _offload(self, event: Select.Changed) -> None:
        self.state["offload"] = str(event.value)

    @on(OptionList.OptionHighlighted, "#gpu-list")
    @on(OptionList.OptionSelected, "#gpu-list")
    def _picked(self, event: OptionList.OptionHighlighted | OptionList.OptionSelected) -> None:
        index = event.option_index
        if 0 <= index < len(getattr(self, "choices", [])):
            self._choose(index)
        if isinstance(event, OptionList.OptionSelected):
            self.action_next_step()
