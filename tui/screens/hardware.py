"""Step 1: what this machine has, and what to plan for.

The probe runs in a worker thread so the first paint is not held up by NVML. The list
offers this machine first (its GPUs, then its CPU: on a machine with no GPU the CPU is the
first choice, since that is where a run started here trains), then, under their own
heading, the catalog GPUs: planning for the server one will rent is an explicit choice,
never a default that makes a laptop look like a P100.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.services import GpuChoice, MachineView
from tunetui.tui.state import CPU_KEY

CATALOG_HEADING = "── or plan for another machine: a catalog GPU ──"


def hardware_text(hw: MachineView) -> str:
    """The probe result in a few lines."""

    def gib(value: float | None) -> str:
        return "?" if value is None else f"{value:.1f} GiB"

    lines = []
    if hw.gpus:
        for i, g in enumerate(hw.gpus):
            lines.append(f"GPU {i}: {g.name}  {gib(g.memory_gib)} total, {gib(g.free_gib)} free")
    else:
        reason = f" ({hw.note})" if hw.note else ""
        lines.append(f"No GPU found{reason}. Runs started here train on the CPU.")
    lines.append(
        f"CPU: {hw.cpu_cores or '?'} cores   RAM: {gib(hw.ram_gib)} ({gib(hw.ram_free_gib)} free)"
        f"   disk free: {gib(hw.disk_free_gib)}"
    )
    return "\n".join(lines)


def cpu_choice(hw: MachineView) -> GpuChoice:
    """This machine's CPU as a plan target: sized against RAM (the planner's ``gpu="cpu"``)."""
    cores = f", {hw.cpu_cores} cores" if hw.cpu_cores else ""
    return GpuChoice(f"CPU{cores}", hw.ram_gib or 0.0, hw.ram_free_gib, key=CPU_KEY)


def choice_option(choice: GpuChoice | None) -> Option:
    """One line of the list: this machine's GPUs and CPU, then (under the heading) the
    catalog's GPUs, each with its memory."""
    if choice is None:
        return Option(CATALOG_HEADING, disabled=True)
    if choice.key == CPU_KEY:
        return Option(f"this machine: {choice.name}, {choice.memory_gib:.0f} GiB RAM")
    if choice.key is None:
        return Option(f"this machine: {choice.name}  {choice.memory_gib:.0f} GiB")
    return Option(f"   {choice.name}  {choice.memory_gib:.0f} GiB")


class HardwareScreen(WizardStep):
    STEP = 1
    TITLE = "Hardware"

    def compose(self) -> ComposeResult:
        yield self.title_bar()
        with Vertical(classes="form"):
            yield Static("probing hardware…", id="hw-text", classes="panel")
            yield Static("Plan for (Enter picks, ctrl+n goes on):", classes="hint")
            yield OptionList(id="gpu-list")
        yield self.footer()

    def on_mount(self) -> None:
        # After the first paint: the probe's imports would otherwise compete for the GIL.
        self.call_after_refresh(self.probe)

    @work(thread=True, exclusive=True)
    def probe(self) -> None:
        hw = self.tapp.hardware()
        catalog = self.services.catalog_gpus()
        self.app.call_from_thread(self._show, hw, catalog)

    def _show(self, hw: MachineView, catalog: list[GpuChoice]) -> None:
        self.query_one("#hw-text", Static).update(hardware_text(hw))
        # One entry per option line; None for the heading (disabled, never chosen).
        self.choices: list[GpuChoice | None] = [*hw.gpus, cpu_choice(hw), None, *catalog]
        listing = self.query_one("#gpu-list", OptionList)
        listing.clear_options()
        listing.add_options([choice_option(c) for c in self.choices])
        chosen = next((i for i, c in enumerate(self.choices) if c and self._is_chosen(c)), 0)
        listing.highlighted = chosen
        if self.state.gpu_name is None:
            self._choose(self.choices[chosen])
        listing.focus()

    def _is_chosen(self, choice: GpuChoice) -> bool:
        return choice.name == self.state.gpu_name and choice.key == self.state.gpu_key

    def _choose(self, choice: GpuChoice | None) -> None:
        if choice is None:  # the heading
            return
        self.state.gpu_name = choice.name
        self.state.gpu_key = choice.key
        self.state.gpu_memory_gib = choice.memory_gib

    @on(OptionList.OptionHighlighted, "#gpu-list")
    @on(OptionList.OptionSelected, "#gpu-list")
    def _picked(self, event: OptionList.OptionHighlighted | OptionList.OptionSelected) -> None:
        index = event.option_index
        if 0 <= index < len(getattr(self, "choices", [])):
            self._choose(self.choices[index])
        if isinstance(event, OptionList.OptionSelected):
            self.action_next_step()
