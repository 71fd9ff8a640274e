"""A one-line text widget that repaints only itself.

`Static.update` asks for a new layout, and a layout pass repaints the whole screen; the
dashboard changes its status and progress lines up to ten times a second, so those lines
use this widget instead: a fixed height and a reactive without layout.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class TextLine(Widget):
    """Markup text on a fixed-height line (height comes from CSS, default 1)."""

    DEFAULT_CSS = "TextLine { height: 1; }"

    text: reactive[str] = reactive("", layout=False)

    def __init__(
        self, text: str = "", *, id: str | None = None, classes: str | None = None
    ) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.set_reactive(TextLine.text, text)

    def render(self) -> Text:
        text = Text.from_markup(self.text, overflow="ellipsis")
        text.no_wrap = True
        if self.size.width:  # crop with an ellipsis rather than wrap out of sight
            text.truncate(self.size.width, overflow="ellipsis")
        return text

    def update(self, text: str) -> None:
        self.text = text
