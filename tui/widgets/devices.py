"""One panel per GPU (or the CPU host): a one-line summary and four sparklines.

Memory is shown against the plan's estimate (plan.json) so a user sees at a glance
whether the run behaves as planned.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline
from tunetui.runner.progress import DeviceHistory
from tunetui.tui.widgets.textline import TextLine

BARS = "▁▂▃▄▅▆▇█"


class RangeSparkline(Sparkline):
    """A one-line sparkline on a fixed scale (0-100% for util), newest sample on the right.

    Textual's Sparkline scales to the data's own min..max, so a GPU steady at 100% reads as
    an empty line; a fixed scale reads right at a glance, and in monochrome.
    """

    def __init__(self, data: list[float], lo: float, hi: float | None, *, id: str) -> None:  # noqa: A002
        super().__init__(data, id=id)
        self.lo, self.hi = lo, hi

    def render(self) -> Text:
        width = max(1, self.size.width)
        values = list(self.data or [])[-width:]
        if not values:
            return Text("·" * width, style="dim")
        hi = self.hi if self.hi is not None else max(values) * 1.1 or 1.0
        span = max(hi - self.lo, 1e-9)
        bars = "".join(BARS[min(7, max(0, round((v - self.lo) / span * 7)))] for v in values)
        return Text(bars.rjust(width, " "))


SERIES = (("util", "util"), ("mem", "mem "), ("temp", "temp"), ("power", "pwr "))


def _fmt(value: float | None, fmt: str, unit: str = "") -> str:
    return "--" if value is None else f"{value:{fmt}}{unit}"


def summary_line(hist: DeviceHistory, plan_gib: float | None) -> str:
    """``GPU 0  util 87%  mem 20.1/24.0 GiB (plan 19.5)  71°C  250 W``.

    On CPU the plan is for the trainer's resident memory, so it sits next to ``rss``.
    """
    mem = _fmt(hist.last("mem"), ".1f")
    total = f"/{hist.mem_total_gib:.1f}" if hist.mem_total_gib else ""
    util = f"util {_fmt(hist.last('util'), '.0f', '%')}"
    plan = f" (plan {plan_gib:.1f})" if plan_gib is not None else ""
    if hist.label == "CPU":
        rss = f"  rss {hist.rss_gib:.1f} GiB{plan}" if hist.rss_gib is not None else ""
        return f"CPU  {util}  RAM {mem}{total} GiB{rss}"
    parts = [hist.label, util, f"mem {mem}{total} GiB{plan}"]
    parts += [_fmt(hist.last("temp"), ".0f", "°C"), _fmt(hist.last("power"), ".0f", " W")]
    return "  ".join(parts)


class DevicePanel(Vertical):
    """Summary line plus util/mem (and temp/power for GPUs) sparklines."""

    DEFAULT_CSS = """
    DevicePanel { height: auto; }
    DevicePanel .spark-row { height: 1; }
    DevicePanel .spark-label { width: 5; }
    DevicePanel Sparkline { width: 1fr; height: 1; margin-right: 1; }
    DevicePanel.compact .device-summary { width: 1fr; }
    DevicePanel.compact Sparkline { width: 14; margin-right: 0; }
    """

    def __init__(self, hist: DeviceHistory, plan_gib: float | None, compact: bool = False) -> None:
        super().__init__(classes="device-panel compact" if compact else "device-panel")
        self.hist = hist
        self.plan_gib = plan_gib
        self.compact = compact

    def compose(self) -> ComposeResult:
        if self.compact:  # many GPUs: one line each, utilisation only
            with Horizontal(classes="spark-row"):
                yield TextLine(summary_line(self.hist, self.plan_gib), classes="device-summary")
                yield RangeSparkline(list(self.hist.util), 0.0, 100.0, id="spark-util")
            return
        yield TextLine(summary_line(self.hist, self.plan_gib), classes="device-summary")
        names = SERIES if self.hist.label != "CPU" else SERIES[:2]
        for row in (names[:2], names[2:]):
            if not row:
                continue
            with Horizontal(classes="spark-row"):
                for attr, label in row:
                    yield Label(label, classes="spark-label")
                    lo, hi = self._scale(attr)
                    yield RangeSparkline(list(getattr(self.hist, attr)), lo, hi, id=f"spark-{attr}")

    def _scale(self, attr: str) -> tuple[float, float | None]:
        """Fixed bounds per series: percent, memory against the total, 20-95 °C."""
        if attr == "util":
            return 0.0, 100.0
        if attr == "mem":
            return 0.0, self.hist.mem_total_gib
        if attr == "temp":
            return 20.0, 95.0
        return 0.0, None

    def update_from(self, hist: DeviceHistory, plan_gib: float | None) -> None:
        """Push the newest samples into the widgets."""
        self.hist, self.plan_gib = hist, plan_gib
        self.query_one(".device-summary", TextLine).update(summary_line(hist, plan_gib))
        for spark in self.query(RangeSparkline):
            attr = (spark.id or "").removeprefix("spark-")
            spark.hi = self._scale(attr)[1]
            spark.data = list(getattr(hist, attr))
