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
        if not drawn:
            plt.title("waiting for the first step")
        else:
            ticks = [lo, hi] if hi > lo else [lo]  # 80x24 leaves ~3 rows: ends only
            plt.yticks(ticks, [f"{t:.3g}" for t in ticks])
        self.border_title = self.title + ("  " + "  ".join(drawn) if len(drawn) > 1 else "")
        self.refresh()
