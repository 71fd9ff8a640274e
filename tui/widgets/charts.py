"""Loss and learning-rate curves drawn by plotext inside Textual (textual-plotext).

Charts are the most expensive thing the dashboard draws, so they redraw only when their
data changed and the dashboard throttles how often it asks (see `DashboardScreen`).
"""

from __future__ import annotations

from textual_plotext import PlotextPlot

# Enough points for an 80-200 column chart; older points are thinned, not dropped.
MAX_POINTS = 400


def thin(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """Every k-th point (keeping the last) so long runs stay cheap to plot."""
    if len(points) <= limit:
        return points
    k = -(-len(points) // limit)
    out = points[::k]
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


MARKERS = ("braille", "•")
X_TICKS = 5  # at most: an 80-column chart has room for about five step labels


def step_ticks(lo: int, hi: int, most: int = X_TICKS) -> list[int]:
    """Whole steps for the x axis (plotext alone writes 1.00 1.25 … for a short run).

    The spacing is 1, 2 or 5 times a power of ten, the smallest that gives at most `most`.
    """
    span = max(hi - lo, 0)
    spacing, power = 1, 1
    while span // spacing + 1 > most:
        spacing = next((m * power for m in (1, 2, 5) if span // (m * power) + 1 <= most), 0)
        if spacing:
            break
        power *= 10
        spacing = power
    first = -(-lo // spacing) * spacing
    ticks = list(range(first, hi + 1, spacing))
    return ticks or [lo]


def value_labels(values: list[float]) -> list[str]:
    """Labels that tell the ticks apart: ``2.0e-4``/``1.9e-4``, not ``0.0002`` twice.

    Tiny and huge values (learning rates) use a short exponent form; digits are added until
    the labels differ.
    """
    for extra in range(5):
        labels = [_format_value(v, extra) for v in values]
        if len(set(labels)) == len(labels):
            break
    return labels


def _format_value(value: float, extra: int) -> str:
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        mantissa, exponent = f"{value:.{1 + extra}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.{3 + extra}g}"


class CurveChart(PlotextPlot):
    """A small line chart of one or more (step, value) series."""

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.title = title
        self._signature: tuple = ()
        self.border_title = title
        self.border_subtitle = "step"

    def set_series(self, series: dict[str, list[tuple[int, float]]]) -> None:
        """Replace the data; a no-op when nothing changed since the last call."""
        signature = tuple(
            (name, len(pts), pts[-1] if pts else None) for name, pts in series.items()
        )
        if signature == self._signature:
            return
        self._signature = signature
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        drawn: list[str] = []
        lo, hi = float("inf"), float("-inf")
        first, last = None, None
        for i, (name, points) in enumerate(series.items()):
            points = thin(points)
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            # Markers differ, not only colours: the chart must read in monochrome.
            marker = MARKERS[i % len(MARKERS)]
            plt.plot(list(xs), list(ys), marker=marker)
            drawn.append(f"{marker if marker != 'braille' else '⣿'} {name}")
            lo, hi = min(lo, *ys), max(hi, *ys)
            first = min(xs[0], first) if first is not None else xs[0]
            last = max(xs[-1], last) if last is not None else xs[-1]
        if not drawn:
            plt.title("waiting for the first step")
        else:
            ticks = [lo, hi] if hi > lo else [lo]  # 80x24 leaves ~3 rows: ends only
            plt.yticks(ticks, value_labels(ticks))
            xs_ticks = step_ticks(int(first), int(last))
            plt.xticks(xs_ticks, [str(x) for x in xs_ticks])
        self.border_title = self.title + ("  " + "  ".join(drawn) if len(drawn) > 1 else "")
        self.refresh()
