"""Small form helpers: a labelled row, and reading typed values without raising."""

from __future__ import annotations

from typing import Any

from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label

from tunetui.options import BY_NAME


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


def parse_option(name: str, text: str, current: Any) -> Any:
    """The value typed into option `name`'s field, read by the option's own type and bounds
    (`tunetui.options`); `current` is kept while the text is not (yet) valid.

    An empty field means "unset" for options whose default is None (max steps, eval
    every, the learning rate: chosen by stage and method), the default for text options
    (template: auto), and keeps the current value of a number.
    """
    option = BY_NAME[name]
    text = text.strip()
    if not text:
        if option.default is None or option.value_type is not str:
            return None if option.default is None else current
        return option.default
    if option.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()] or current
    kind = option.value_type
    if kind is str:
        return text
    try:
        value = kind(text)
    except ValueError:
        return current
    low, above = option.bounds.get("ge"), option.bounds.get("gt")
    if (low is not None and value < low) or (above is not None and value <= above):
        return current
    if option.bounds.get("lt") is not None and value >= option.bounds["lt"]:
        return current
    return value
