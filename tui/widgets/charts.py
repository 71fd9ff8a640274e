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


class CurveChart(PlotextPlot):
    """A small line chart of one or more (step, value) series."""

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.title = title
        self._signature: tuple = ()
        self.border_title = title

    def set_series(self, series: dict[str, list[tuple[int, float]]], log_y: bool = False) -> None:
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
        drawn = False
        for name, points in series.items():
            points = thin(points)
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            plt.plot(list(xs), list(ys), label=name, marker="braille")
            drawn = True
        if not drawn:
            plt.title("waiting for the first step")
        plt.xlabel("step")
        self.refresh()
