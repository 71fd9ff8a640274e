"""The dashboard's train.log pane."""

from __future__ import annotations

from textual.widgets import Log


class FollowingLog(Log):
    """train.log's pane: follows the end unless the user scrolled back.

    Textual's Log follows only while the view sits at the very end. When the pane shrinks
    under the text (a device panel appears, the full-height log is toggled off), the end
    moves down without the view and a plain Log stops following for good: after attaching
    to a resumed run it kept showing the old attempt's last line. Here following is a
    state that only scrolling changes (back: off; to the end: on), and a resize keeps it.
    """

    following = True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.following = new_value >= self.max_scroll_y

    def on_resize(self) -> None:
        if self.following:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
