"""Wizard services for a machine with several GPUs (issue 14's strategy and count)."""

from __future__ import annotations

from tui_fixtures import FixedServices


class FourGpus(FixedServices):
    """This machine has four RTX 4090s (the fixed services' one, four times), one of them
    fuller than the others: a plan for all four is sized by that one."""

    def hardware(self):
        from tunetui.tui.services import GpuChoice

        machine = super().hardware()
        name = machine.gpus[0].name
        machine.gpus = [GpuChoice(name, 23.99, free) for free in (22.5, 22.5, 20.0, 22.5)]
        return machine
