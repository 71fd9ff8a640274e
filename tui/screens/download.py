"""The download panel: a hub model being fetched into the Hugging Face cache.

Shown over whatever screen needed the model (the review step's Launch) while
`Services.fetch_model` downloads it in a worker thread, fed by huggingface_hub's own
progress counts (`runner.modelpath.progress_bars`). It closes itself when the download
ends; Escape hides it early (the download goes on, the launch follows when it is done).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static


class DownloadScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DownloadScreen { align: center middle; }
    DownloadScreen #download { width: 70; height: auto; border: heavy $primary;
                               padding: 1 2; background: $surface; }
    DownloadScreen #download-bar { margin-top: 1; }
    DownloadScreen #download-bar Bar { width: 1fr; }
    """
    BINDINGS = [Binding("escape", "hide", "Hide (keeps downloading)")]

    def __init__(self, first: Any) -> None:
        """``first``: the download's first `DownloadProgress`."""
        super().__init__()
        self.first = first
        self.repo_id = first.repo_id

    def compose(self) -> ComposeResult:
        with Vertical(id="download"):
            yield Static(
                f"Downloading [b]{self.repo_id}[/b] from the Hugging Face Hub into the HF "
                "cache (resumable; HF_TOKEN and HF_ENDPOINT apply)",
                id="download-title",
            )
            yield ProgressBar(id="download-bar", show_eta=False)
            yield Static(self.first.text(), id="download-text")

    def show(self, progress: Any) -> None:
        """Update from a `runner.modelpath.DownloadProgress`."""
        self.query_one("#download-text", Static).update(progress.text())
        bar = self.query_one("#download-bar", ProgressBar)
        if progress.bytes_total:
            bar.update(total=progress.bytes_total, progress=progress.bytes_done)

    def action_hide(self) -> None:
        self.dismiss()
