"""Small form helpers: a labelled row, and reading typed numbers without raising."""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label


def row(label: str, widget: Widget) -> Horizontal:
    """``label  [widget]`` on one line, the label a fixed width so fields line up."""
    return Horizontal(Label(label), widget, classes="row")


def parse_int(text: str, minimum: int = 1) -> int | None:
    """An int >= minimum, or None while the user is still typing something invalid."""
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= minimum else None


def parse_float(text: str, minimum: float = 0.0, strict: bool = True) -> float | None:
    """A float > minimum (>= when not strict), or None."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    ok = value > minimum if strict else value >= minimum
    return value if ok and value == value else None
