"""The live run dashboard: `run_dashboard(run_dir)` (used by `tunetui run` and `attach`).

(Over 450 lines: the screen, its device panels and the app shell share one poll loop and
one view model; the view model itself already lives in `runview`.)

The dashboard only *reads* the run directory: events.jsonl through `EventTail`, train.log
through `LogTail`, plan.json once. A timer polls both every `POLL_S`; each poll reads only
what was appended (small reads), so the UI never blocks, and a finished run is replayed
from the same file. Closing the view never touches the training process (it runs in its
own session); only `s`, after a confirmation, asks it to checkpoint and stop.

On several processes every rank writes its own `gpu` samples with a ``rank``; the device
pane then has one compact line per rank and device (``r3 GPU 3 util 97% mem 61.2/79.6
GiB (plan 58.1) …``): GPU indices repeat across machines, and two CPU ranks would
otherwise share one line that jumps between their memory figures.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Label, Log, ProgressBar, Static
from tunetui.runner.events import EVENTS_FILE, EventTail, LogTail
from tunetui.runner.progress import DeviceHistory, RunProgress
from tunetui.runner.rundir import LOG_FILE, plan_gib
from tunetui.runner.runstate import read_state, worker_gone
from tunetui.runner.stopping import StopResult, request_stop
from tunetui.tui.runview import progress_line, status_text
from tunetui.tui.widgets.charts import CurveChart
from tunetui.tui.widgets.devices import DevicePanel
from tunetui.tui.widgets.followlog import FollowingLog
from tunetui.tui.widgets.textline import TextLine

POLL_S = 0.1  # event/log poll period: well under the 250 ms append-to-render target
CHART_S = 0.5  # charts are the costly part: redraw at most twice a second
READ_CHUNK = 64 << 10  # bytes per read of events.jsonl (~500 events)
READ_BUDGET_S = 0.05  # reading/folding per tick; a big replay continues after a repaint
ALIVE_S = 2.0  # how often to check that the worker process still exists
LOG_LINES = 5000
LOG_TAIL_BYTES = 512 << 10  # of train.log shown when a view opens


def live_state(run_dir: Path) -> str | None:
    """``"running"`` or ``"stopping"`` while a worker of this run is alive, else None.

    The runner's `read_state` is the one judge: after `run --resume` the events file still
    ends with the earlier attempt's ``stopped``/``error`` until the new worker writes its
    ``start``, so "any final event" would call a live run over.
    """
    state = read_state(run_dir)
    return state.state if state.active else None


def memory_line(view: RunProgress) -> str:
    """``memory: planned 20.9 GiB, measured 19.8 GiB`` and the latest warning (an OOM retry)."""
    parts = [f"memory: {view.memory_text}"] if view.memory_text else []
    warn = [f"[yellow]warning: {escape(view.warnings[-1])}[/]"] if view.warnings else []
    return " · ".join(parts + warn)


class RankDevices:
    """The device samples of each rank, folded apart (`RunProgress` per rank, fed only the
    rank's `gpu` events), for one line per rank and device."""

    def __init__(self) -> None:
        self.ranks: dict[int, RunProgress] = {}

    def apply_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            rank = event.get("rank")
            if event.get("type") == "gpu" and isinstance(rank, int):
                self.ranks.setdefault(rank, RunProgress()).apply(event)

    def reset(self) -> None:
        self.ranks.clear()

    def devices(self) -> list[tuple[str, int, DeviceHistory]]:
        """(key, rank, history) by rank, then device: GPU 0 before CPU as the fold has them."""
        return [
            (f"r{rank} {label}", rank, hist)
            for rank, fold in sorted(self.ranks.items())
            for label, hist in fold.devices.items()
        ]


class RankDevicePanel(Horizontal):
    """``r3`` and that rank's compact device line."""

    DEFAULT_CSS = """
    RankDevicePanel { height: auto; }
    RankDevicePanel > .rank-label { width: 4; }
    RankDevicePanel > DevicePanel { width: 1fr; }
    """

    def __init__(self, rank: int, hist: DeviceHistory, plan_gib: float | None) -> None:
        super().__init__()
        self.rank = rank
        self.panel = DevicePanel(hist, plan_gib, compact=True)

    def compose(self) -> ComposeResult:
        yield Label(f"r{self.rank}", classes="rank-label")
        yield self.panel

    def update_from(self, hist: DeviceHistory, plan_gib: float | None) -> None:
        self.panel.update_from(hist, plan_gib)


def stop_message(result: StopResult) -> str:
    """What the dashboard says after `s`: `request_stop` never waits here (UI thread)."""
    if not (result.stop_file or result.signalled):
        return f"the run is not running ({result.state.state})"
    return "stop requested: a checkpoint is saved at the next step, then the run stops"


class ConfirmStop(ModalScreen[bool]):
    """Ask before stopping: stopping saves a checkpoint, then ends the run."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes, stop"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, run_name: str) -> None:
        super().__init__()
        self.run_name = run_name

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label(f"Stop {self.run_name}? It saves a checkpoint, then stops.")
            yield Label("It can be continued later with --resume.")
            with Horizontal(id="confirm-buttons"):
                yield Button("Stop (y)", variant="error", id="yes")
                yield Button("Keep running (n)", id="no")
            yield Footer()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class DashboardScreen(Screen[str]):
    """Progress, curves, device panels, errors and the train.log tail of one run."""

    BINDINGS = [
        Binding("s", "stop", "Stop+checkpoint"),
        # Takes `s` when the run has ended (the one above is then hidden): says why.
        Binding("s", "stop_unavailable", "Stop", show=False),
        Binding("d", "detach", "Detach"),
        Binding("l", "toggle_log", "Log full"),
        Binding("q,escape", "quit_view", "Quit view"),
    ]

    def __init__(self, run_dir: str | Path, *, poll_s: float = POLL_S) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.poll_s = poll_s
        self.view = RunProgress(run_name=self.run_dir.name)
        self.ranks = RankDevices()
        self.events = EventTail(self.run_dir / EVENTS_FILE)
        self.log_tail = LogTail(self.run_dir / LOG_FILE)
        self.plan_gib = plan_gib(self.run_dir)
        self._charts_dirty = True
        self._last_chart = 0.0
        self._panels: dict[str, DevicePanel | RankDevicePanel] = {}
        self._texts: dict[str, str] = {}
        self._replaying = False
        self.replayed = False  # the history is shown (tests and benchmarks wait for it)
        self._last_alive = time.monotonic()
        self._restarted = False
        self._error_shown = False
        self._was_finished: bool | None = None  # the footer's `s` follows this
        # Called after each render-relevant update with the events just shown (benchmarks).
        self.on_events_shown: Any = None

    def compose(self) -> ComposeResult:
        yield TextLine(id="run-status")
        with Vertical(id="progress-box"):
            yield ProgressBar(total=None, show_eta=False, id="progress")  # "--%" hidden
            yield TextLine(id="progress-text")
        yield TextLine(id="memory-text")  # measured vs planned; recovery warnings
        with Horizontal(id="charts"):
            yield CurveChart("loss", id="loss-chart")
            yield CurveChart("learning rate", id="lr-chart")
        yield VerticalScroll(id="devices")
        yield Static(id="error-panel")
        yield FollowingLog(max_lines=LOG_LINES, id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log", Log).border_title = f"{self.run_dir.name}/{LOG_FILE}"
        self.query_one("#error-panel").display = False
        self.query_one("#memory-text").styles.padding = (0, 1)  # aligned with the progress box
        self._show([])  # header and "waiting" before the first event arrives
        self.log_tail.skip_to_tail(LOG_TAIL_BYTES)  # the pane keeps 5000 lines anyway
        self._replaying = True
        self.replay()
        self.set_interval(self.poll_s, self.poll)

    @work(thread=True, exclusive=True, group="replay")
    def replay(self) -> None:
        """Fold what the file already holds in a thread: a long run's history (tens of MB)
        must not freeze the screen. Following takes over from where this stops."""
        view, ranks = RunProgress(run_name=self.run_dir.name), RankDevices()
        while batch := self.events.poll(max_bytes=1 << 20):
            if self.events.restarted:
                view.reset()
                ranks.reset()
            view.apply_all(batch)
            ranks.apply_all(batch)
        live = live_state(self.run_dir)  # reads files: here, off the UI thread
        self.app.call_from_thread(self._replayed, view, live, ranks)

    def _replayed(
        self, view: RunProgress, live: str | None = None, ranks: RankDevices | None = None
    ) -> None:
        self.view = view
        self.ranks = ranks or RankDevices()
        self._follow_runner(live)
        self._replaying = False
        self._charts_dirty, self._restarted = True, True
        self._show([])
        self.poll()
        self.replayed = True

    # -- polling -------------------------------------------------------------------------
    def poll(self) -> None:
        """Read what was appended and update the panels; cheap when nothing changed."""
        if self._replaying:  # the replay thread owns the tail until it is done
            self._poll_log()
            return
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + READ_BUDGET_S
        more = True
        while more:  # a long run's replay: small reads, a bounded time per tick
            batch = self.events.poll(max_bytes=READ_CHUNK)
            if self.events.restarted:
                self._restart()
                events = []
            events.extend(batch)
            more = bool(batch)
            if more and time.monotonic() > deadline:
                # A real timer, not call_after_refresh: keys and the repaint get the
                # event loop in between, so a long replay never freezes the screen.
                self.set_timer(0.02, self.poll)
                break
        if events:
            self.view.apply_all(events)
            self.ranks.apply_all(events)
            self._charts_dirty = True
            self._show(events)
        self._poll_log()
        now = time.monotonic()
        if now - self._last_alive >= ALIVE_S:
            self._last_alive = now
            if self.view.finished:
                self._check_resumed()
            else:
                self._check_alive()
        if self._charts_dirty and now - self._last_chart >= CHART_S:
            self._draw_charts()
            self._last_chart = now
        if events and self.on_events_shown is not None:
            self.call_after_refresh(self.on_events_shown, events)

    def _poll_log(self) -> None:
        pane = self.query_one("#log", FollowingLog)
        lines = self.log_tail.poll()
        if self.log_tail.restarted:
            pane.clear()
        if lines:
            pane.write_lines(lines, scroll_end=pane.following)

    def _check_alive(self) -> None:
        """A worker that died without `end`/`error`/`stopped` would otherwise look running."""
        if not worker_gone(self.run_dir):
            return
        late = self.events.poll()  # it may have written its last events just before exiting
        self.view.apply_all(late)
        self.ranks.apply_all(late)
        if not self.view.finished:
            self.view.mark_crashed(str(self.run_dir / LOG_FILE))
            self.notify(f"Resume with: tunetui run --resume {self.run_dir.name}", timeout=10)
        self._show(late)

    def _follow_runner(self, live: str | None) -> None:
        """Trust the runner's liveness over the events read so far (see `live_state`).

        A live worker behind an ended view is a resumed attempt that has not written its
        `start` yet; ``stopping`` means a stop was asked for (here or by `tunetui stop`).
        """
        if live is not None and self.view.finished:
            self.view.new_attempt()
        if live == "stopping":
            self.view.mark_stopping()

    def _check_resumed(self) -> None:
        """An ended run may be resumed while the view is open: show it as waiting again."""
        if live_state(self.run_dir) is not None and self.view.finished:
            self._follow_runner("running")
            self._show([])

    def _restart(self) -> None:
        """The events file was truncated or replaced (a restart): start the view over."""
        self.view.reset()
        self.ranks.reset()
        for panel in self._panels.values():
            panel.remove()
        self._panels.clear()
        self._charts_dirty = True
        self._restarted = True

    def _set_text(self, selector: str, text: str) -> None:
        """Update a line only when its text changed (each change is a repaint)."""
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, TextLine).update(text)

    def _show(self, events: list[dict[str, Any]]) -> None:
        view = self.view
        self._set_text("#run-status", status_text(view, self.run_dir))
        if view.total_steps:
            bar = self.query_one("#progress", ProgressBar)
            bar.update(total=view.total_steps, progress=view.step)
            bar.query_one("#percentage").display = True
        self._set_text("#progress-text", progress_line(view, self.plan_gib))
        memory = memory_line(view)
        self._set_text("#memory-text", memory)
        # No row until there is something to say: 80x24 has none to spare for a blank line.
        self.query_one("#memory-text").display = bool(memory)
        if any(e.get("type") == "gpu" for e in events) or self._restarted:
            self._show_devices()
        if view.status in ("error", "crashed") or self._error_shown:
            self._show_error()
        self._restarted = False
        if view.finished != self._was_finished:
            self._was_finished = view.finished
            self.refresh_bindings()

    def _show_devices(self) -> None:
        box = self.query_one("#devices", VerticalScroll)
        if self.ranks.ranks:  # several processes: one compact line per rank and device
            for key, rank, hist in self.ranks.devices():
                panel = self._panels.get(key)
                if panel is None:
                    panel = self._panels[key] = RankDevicePanel(rank, hist, self.plan_gib)
                    box.mount(panel)
                elif panel.is_mounted:
                    panel.update_from(hist, self.plan_gib)
            return
        for label, hist in self.view.devices.items():
            panel = self._panels.get(label)
            if panel is None:
                compact = len(self.view.devices) > 2  # 4-8 GPUs: one line each
                panel = self._panels[label] = DevicePanel(hist, self.plan_gib, compact)
                box.mount(panel)
            elif panel.is_mounted:
                panel.update_from(hist, self.plan_gib)

    def _show_error(self) -> None:
        panel = self.query_one("#error-panel", Static)
        self._error_shown = self.view.status in ("error", "crashed")
        if not self._error_shown:
            panel.display = False
            return
        tail = "\n".join(self.view.traceback_tail[-8:])
        panel.update(
            f"[b]error:[/b] {self.view.error_message}\n{tail}\nfull log: {self.run_dir / LOG_FILE}",
        )
        panel.display = True

    def _draw_charts(self) -> None:
        self._charts_dirty = False
        series = {"train": self.view.train_loss}
        if self.view.eval_loss:
            series["eval"] = self.view.eval_loss
        self.query_one("#loss-chart", CurveChart).set_series(series)
        self.query_one("#lr-chart", CurveChart).set_series({"lr": self.view.lrs})

    # -- keys ----------------------------------------------------------------------------
    def action_toggle_log(self) -> None:
        self.toggle_class("log-full")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`s` stops a live run; for an ended one the footer hides it and `s` says why."""
        if action == "stop":
            return not self.view.finished
        if action == "stop_unavailable":
            return self.view.finished
        return True

    def action_stop_unavailable(self) -> None:
        self.notify(
            f"The run has already ended ({self.view.status}); nothing to stop. "
            f"Continue it with: tunetui run --resume {self.run_dir.name}",
            severity="warning",
        )

    def action_stop(self) -> None:
        if self.view.finished:
            self.action_stop_unavailable()
            return

        def _answer(yes: bool | None) -> None:
            if yes:
                message = stop_message(request_stop(self.run_dir, wait_s=0.0))
                self.notify(message)
                if message.startswith("stop requested"):
                    self.view.mark_stopping()
                    self._show([])

        self.app.push_screen(ConfirmStop(self.view.run_name or self.run_dir.name), _answer)

    def action_detach(self) -> None:
        self._leave("detached")

    def action_quit_view(self) -> None:
        self._leave("quit")

    def _leave(self, how: str) -> None:
        if isinstance(self.app, DashboardApp):
            self.app.exit(how)
            return
        if how == "detached" and not self.view.finished:
            self.app.notify(f"The run goes on. Come back with: tunetui attach {self.run_dir.name}")
        self.dismiss(how)


class DashboardApp(App[str]):
    """A standalone app around one `DashboardScreen` (`tunetui run` / `tunetui attach`)."""

    CSS_PATH = str(Path(__file__).with_name("tunetui.tcss"))  # absolute: subclasses live elsewhere
    TITLE = "tunetui"
    ENABLE_COMMAND_PALETTE = False  # keys are all in the footer; 80 columns are scarce

    def __init__(self, run_dir: str | Path, *, poll_s: float = POLL_S) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.poll_s = poll_s

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.run_dir, poll_s=self.poll_s))


def attach_hint(run_dir: Path) -> str:
    """What to type to see the run again."""
    return f"tunetui attach {run_dir.name}"


def run_dashboard(run_dir: str | Path) -> str:
    """Show the dashboard of `run_dir` until the user quits or detaches.

    Returns ``"detached"`` or ``"quit"``. The run itself is never affected; after a detach
    (or quitting a live run) it prints how to come back.
    """
    path = Path(run_dir)
    if not path.is_dir():
        from tunetui.planner.errors import UserError

        raise UserError(f"no run directory {path}", "Run `tunetui runs` to list runs")
    app = DashboardApp(path)
    result = app.run() or "quit"
    if live_state(path) is not None:
        print(f"The run goes on in the background. Come back with: {attach_hint(path)}")
    return result
