"""Step 1: what this machine has, and which GPU to plan for.

The probe runs in a worker thread so the first paint is not held up by NVML. With no GPU
the list offers the catalog, so a laptop user can plan for the server they will rent.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from tunetui.tui.screens.base import WizardStep
from tunetui.tui.services import GpuChoice, MachineView


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
        lines.append(f"No GPU found{reason}. Pick a catalog GPU below to plan for it.")
    lines.append(
        f"CPU: {hw.cpu_cores or '?'} cores   RAM: {gib(hw.ram_gib)} ({gib(hw.ram_free_gib)} free)"
        f"   disk free: {gib(hw.disk_free_gib)}"
    )
    return "\n".join(lines)


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
        self.choices = [*hw.gpus, *catalog]
        options = [
            Option(f"{'this host: ' if c.key is None else ''}{c.name}  {c.memory_gib:.0f} GiB")
            for c in self.choices
        ]
        listing = self.query_one("#gpu-list", OptionList)
        listing.clear_options()
        listing.add_options(options)
        chosen = next(
            (i for i, c in enumerate(self.choices) if self._is_chosen(c)),
            0 if self.choices else None,
        )
        if chosen is not None:
            listing.highlighted = chosen
            if self.state.gpu_name is None:
                self._choose(self.choices[chosen])
        listing.focus()

    def _is_chosen(self, choice: GpuChoice) -> bool:
        return choice.name == self.state.gpu_name and choice.key == self.state.gpu_key

    def _choose(self, choice: GpuChoice) -> None:
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
