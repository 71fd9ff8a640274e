"""The memory bar: the estimate's terms stacked against the planned device's free memory
(the GPU's, or RAM for a CPU plan: the bar says which).

Each term has its own fill character as well as its own colour so the bar reads the same
in monochrome (NO_COLOR) and in 16 colours. A plan that does not fit says by how much in
words, not only in red.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static
from tunetui.tui.services import PlanInfo

FILLS = (("█", "cyan"), ("▓", "magenta"), ("▒", "yellow"), ("░", "green"), ("▞", "blue"))


def merge_small(terms: dict[str, float], share: float = 0.04) -> dict[str, float]:
    """Fold terms under `share` of the total into ``other`` so the legend fits 80 columns."""
    total = sum(terms.values()) or 1.0
    out = {k: v for k, v in terms.items() if v >= share * total}
    rest = sum(v for k, v in terms.items() if k not in out)
    if rest > 0:
        out["other"] = rest
    return out


def render_bar(plan: PlanInfo, width: int = 60) -> Text:
    """The bar, a fit verdict and a legend, as Rich text."""
    out = Text()
    if plan.error:
        out.append(plan.error, style="bold")
        return out
    if plan.total_gib is None:
        out.append("estimating…")
        return out
    scale = max(plan.gpu_gib or plan.total_gib, plan.total_gib) or 1.0
    terms = merge_small(plan.breakdown_gib or {"total": plan.total_gib})
    used, running = 0, 0.0
    for i, (_name, gib) in enumerate(terms.items()):
        fill, colour = FILLS[i % len(FILLS)]
        running += gib
        cells = min(width, round(width * running / scale)) - used  # cumulative: no overflow
        out.append(fill * cells, style=colour)
        used += cells
    if plan.gpu_gib and used < width:
        out.append("·" * (width - used), style="dim")
    out.append("\n")
    memory = "RAM" if plan.device == "cpu" else "GPU memory"
    free = f" / {plan.gpu_gib:.1f} GiB free {memory}" if plan.gpu_gib else f" GiB {memory}"
    out.append(f"{plan.total_gib:.1f}{free}  ")
    if plan.fits is True:
        pct = 100 * plan.total_gib / plan.gpu_gib if plan.gpu_gib else 0
        out.append(f"fits ({pct:.0f}%)", style="bold green")
    elif plan.fits is False:
        out.append(f"DOES NOT FIT: {plan.over_gib:.1f} GiB over", style="bold red reverse")
    out.append("\n")
    if plan.speed_text:
        out.append(f"throughput: {plan.speed_text}\n")
    for i, (name, gib) in enumerate(terms.items()):
        fill, colour = FILLS[i % len(FILLS)]
        out.append(fill, style=colour)
        out.append(f" {name} {gib:.1f}  ")
    return out


class VramBar(Static):
    """Shows a `PlanInfo`; the `over` class turns the frame red when it does not fit."""

    def show(self, plan: PlanInfo) -> None:
        width = max(20, self.content_region.width or 60)
        self.update(render_bar(plan, width))
        self.set_class(plan.fits is False, "over")
