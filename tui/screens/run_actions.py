"""A finished run's actions: chat with it, compare base vs tuned, export it, serve it.

Opened from the runs screen (``a`` on a finished run). Every action prints its console
equivalent (``tunetui export demo --gguf --quant q8_0``) so what was done here can be done
again in a terminal or a script. Nothing heavy runs in the TUI's process: the model answers
from a child process (`runprocs.ChatProcess`), export and serve are the `tunetui` commands
themselves run as children, all driven from worker threads, so the screen stays responsive
while a model loads, merges or converts. Leaving the screen stops its server and chat.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Input,
    Label,
    RichLog,
    Select,
    Static,
    TabbedContent,
    TabPane,
)
from tunetui.planner.errors import UserError
from tunetui.runner.progress import RunProgress
from tunetui.tui.runactions import (
    EXPORTS,
    chat_command,
    command_text,
    compare_commands,
    parse_port,
    run_word,
    serve_args,
)
from tunetui.tui.runview import status_text

if TYPE_CHECKING:
    from tunetui.tui.runprocs import ChatProcess, ServerProcess
    from tunetui.tui.services import Services

LOADING = "loading the model in its own process…"
EMPTY = "(no text: the model ended its answer at once)"
# Command output, wrapped at the log's own width (RichLog's default is at least 78
# columns, wider than the log at 80x24).
LOG: dict[str, Any] = {"wrap": True, "markup": False, "min_width": 20}


class RunActionsScreen(Screen[None]):
    """Chat | Compare | Export | Serve for one finished run."""

    DEFAULT_CSS = """
    RunActionsScreen #actions-title { height: 1; padding: 0 1; background: $panel; }
    RunActionsScreen #actions { height: 1fr; }
    RunActionsScreen #actions ContentSwitcher { height: 1fr; }
    RunActionsScreen TabPane { height: 1fr; padding: 0 1; }
    RunActionsScreen .console { height: auto; color: $text-muted; }
    RunActionsScreen #chat-scroll { height: 1fr; border: round $primary; }
    RunActionsScreen .answers { height: 1fr; }
    RunActionsScreen .answer { width: 1fr; height: 1fr; border: round $primary; }
    RunActionsScreen .action-row { height: 1; margin-bottom: 1; }
    RunActionsScreen .action-row Select { width: 1fr; }
    RunActionsScreen .action-row Button { margin-left: 1; min-width: 10; }
    RunActionsScreen .action-row Checkbox { margin-left: 1; }
    RunActionsScreen #port { width: 10; }
    RunActionsScreen .action-log { height: 1fr; border: round $secondary; }
    RunActionsScreen #serve-status { height: auto; }
    """
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f1", "tab('chat')", "Chat"),
        Binding("f2", "tab('compare')", "Compare"),
        Binding("f3", "tab('export')", "Export"),
        Binding("f4", "tab('serve')", "Serve"),
    ]
    # The field each tab starts in (focus decides the tab shown: a focused field in a
    # hidden pane would switch back to it).
    FIRST = {"chat": "#chat-input", "compare": "#compare-input", "export": "#export-kind",
             "serve": "#port"}  # fmt: skip

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.run = run_word(self.run_dir)
        self.chat: ChatProcess | None = None
        self._chat_lock = threading.Lock()
        self.history: list[dict[str, str]] = []
        self.transcript: list[tuple[str, str]] = []
        self.busy: set[str] = set()  # tabs with an answer on its way
        self.server: ServerProcess | None = None
        self.curl = ""  # the server's own "try: curl ..." line
        self.serving = False  # /health answered
        self.stopping = False
        self.base_name = ""

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined]

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="actions-title")
        with TabbedContent(id="actions"):
            with TabPane("Chat", id="tab-chat"):
                with VerticalScroll(id="chat-scroll"):
                    yield Static(LOADING, id="chat-text")
                yield Input(
                    placeholder="ask the tuned model (Enter; /reset forgets)",
                    id="chat-input",
                    compact=True,
                )
                yield Static(f"console: {chat_command(self.run)}", classes="console")
            with TabPane("Compare", id="tab-compare"):
                yield Input(
                    placeholder="one prompt, two answers (Enter)", id="compare-input", compact=True
                )
                with Horizontal(classes="answers"):
                    with VerticalScroll(id="base-box", classes="answer"):
                        yield Static("", id="base-answer")
                    with VerticalScroll(id="tuned-box", classes="answer"):
                        yield Static("", id="tuned-answer")
                yield Static("", id="compare-console", classes="console")
            with TabPane("Export", id="tab-export"):
                with Horizontal(classes="action-row"):
                    options = [(choice.label, choice.key) for choice in EXPORTS]
                    yield Select(options, value="q8_0", allow_blank=False, id="export-kind",
                                 compact=True)  # fmt: skip
                    yield Checkbox("overwrite", id="overwrite", compact=True)
                    yield Button("Export", id="export", variant="primary", compact=True)
                yield RichLog(id="export-log", classes="action-log", **LOG)
                yield Static("", id="export-console", classes="console")
            with TabPane("Serve", id="tab-serve"):
                with Horizontal(classes="action-row"):
                    yield Label("port ")
                    yield Input("8000", id="port", compact=True)
                    yield Button("Start", id="serve", variant="primary", compact=True)
                yield Static("stopped", id="serve-status")
                yield RichLog(id="serve-log", classes="action-log", **LOG)
                yield Static("", id="serve-console", classes="console")
        yield Footer()

    def _title(self) -> str:
        """The dashboard's header line: name, state, stage/method/model, output."""
        from tunetui.runner.events import read_events

        view = RunProgress()
        view.apply_all(read_events(self.run_dir / "events.jsonl"))
        return status_text(view, self.run_dir)

    def on_mount(self) -> None:
        self.base_name = "base"
        self._show_export_command()
        self._show_serve_command()
        self._show_compare_commands("")
        self.query_one("#base-box").border_title = "base"
        self.query_one("#tuned-box").border_title = f"tuned: {self.run_dir.name}"
        self.query_one("#chat-input", Input).focus()
        self.start_chat()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{name}"
        self.query_one(self.FIRST[name]).focus()

    def on_unmount(self) -> None:
        """Leaving (or quitting) stops what this screen started: a server nobody sees is a
        surprise. Nothing here waits: the children finish on their own."""
        if self.server is not None:
            self.server.interrupt()
        if self.chat is not None:
            self.chat.close(wait=False)

    # -- chat and compare ----------------------------------------------------------------
    def _chat_process(self) -> ChatProcess:
        """The model process, started once (waits for the load; worker threads only)."""
        with self._chat_lock:
            if self.chat is None:
                self.chat = self.services.open_chat(self.run_dir)
                self.app.call_from_thread(self._chat_loaded, self.chat.base)
            return self.chat

    def _chat_loaded(self, base: str) -> None:
        self.base_name = base or "base"
        self.query_one("#base-box").border_title = f"base: {self.base_name}"
        self._show_compare_commands(self.query_one("#compare-input", Input).value)
        self._render_chat(ready=True)

    @work(thread=True, group="chat")
    def start_chat(self) -> None:
        try:
            self._chat_process()
        except UserError as err:
            self.app.call_from_thread(self._chat_failed, err.line())

    def _chat_failed(self, line: str) -> None:
        self.query_one("#chat-text", Static).update(Text(line, style="bold"))
        self.app.bell()

    def _render_chat(self, ready: bool = True) -> None:
        text = Text()
        if not self.transcript:
            text.append("model loaded; ask it something" if ready else LOADING, style="dim")
        for who, said in self.transcript:
            text.append("you> " if who == "user" else "bot> ", style="bold")
            text.append(said + "\n")
        self.query_one("#chat-text", Static).update(text)
        self.query_one("#chat-scroll", VerticalScroll).scroll_end(animate=False)

    @on(Input.Submitted, "#chat-input")
    def _chat_submitted(self, event: Input.Submitted) -> None:
        if self._busy("chat"):
            return
        prompt = event.value.strip()
        event.input.value = ""
        if prompt == "/reset":
            self.history.clear()
            self.transcript.clear()
            self._render_chat()
            return
        if prompt:
            self.transcript += [("user", prompt), ("bot", "")]
            self._render_chat()
            self.busy.add("chat")
            self.ask_chat(prompt)

    def _busy(self, tab: str) -> bool:
        """One answer at a time per tab: the prompt stays in its field until this one is
        done (answers stream into the last reply; a second would interleave with it)."""
        if tab in self.busy:
            self.notify("still answering; send it when the answer is done")
        return tab in self.busy

    def _done(self, tab: str) -> None:
        self.busy.discard(tab)

    @work(thread=True, group="chat")
    def ask_chat(self, prompt: str) -> None:
        messages = [*self.history, {"role": "user", "content": prompt}]

        def piece(text: str) -> None:
            self.app.call_from_thread(self._chat_piece, text)

        try:
            answer = self._chat_process().ask(messages, "tuned", piece)
        except UserError as err:
            self.app.call_from_thread(self._chat_piece, f"[{err.line()}]")
            return
        finally:
            self.app.call_from_thread(self._done, "chat")
        if not answer:
            self.app.call_from_thread(self._chat_piece, EMPTY)
        self.history += [{"role": "user", "content": prompt},
                         {"role": "assistant", "content": answer}]  # fmt: skip

    def _chat_piece(self, text: str) -> None:
        who, said = self.transcript[-1]
        self.transcript[-1] = (who, said + text)
        self._render_chat()

    @on(Input.Changed, "#compare-input")
    def _compare_typed(self, event: Input.Changed) -> None:
        self._show_compare_commands(event.value)

    def _show_compare_commands(self, prompt: str) -> None:
        lines = compare_commands(self.run, self.base_name, prompt.strip())
        self.query_one("#compare-console", Static).update(
            Text("console: " + "\n         ".join(lines))
        )

    @on(Input.Submitted, "#compare-input")
    def _compare_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() and not self._busy("compare"):
            for which in ("base", "tuned"):
                self.query_one(f"#{which}-answer", Static).update(Text("…", style="dim"))
            self.busy.add("compare")
            self.compare(event.value.strip())

    @work(thread=True, group="chat")
    def compare(self, prompt: str) -> None:
        """The same one-turn prompt to the base model and to the tuned one."""
        try:
            for which in ("base", "tuned"):
                if not self._compare_one(prompt, which):
                    return
        finally:
            self.app.call_from_thread(self._done, "compare")

    def _compare_one(self, prompt: str, which: str) -> bool:
        """One side's answer, streamed into its box (worker thread); False on an error."""
        pieces: list[str] = []

        def piece(text: str) -> None:
            pieces.append(text)
            self.app.call_from_thread(self._answer, which, "".join(pieces))

        try:
            answer = self._chat_process().ask([{"role": "user", "content": prompt}], which, piece)
        except UserError as err:
            self.app.call_from_thread(self._answer, which, f"[{err.line()}]")
            return False
        self.app.call_from_thread(self._answer, which, answer or EMPTY)
        return True

    def _answer(self, which: str, text: str) -> None:
        self.query_one(f"#{which}-answer", Static).update(Text(text))

    # -- export --------------------------------------------------------------------------
    def _export_args(self, run: str) -> list[str]:
        key = self.query_one("#export-kind", Select).value
        choice = next(c for c in EXPORTS if c.key == key)
        return choice.args(run, self.query_one("#overwrite", Checkbox).value)

    @on(Select.Changed, "#export-kind")
    @on(Checkbox.Changed, "#overwrite")
    def _show_export_command(self, _: Any = None) -> None:
        line = command_text(self._export_args(self.run))
        self.query_one("#export-console", Static).update(Text(f"console: {line}"))

    @on(Button.Pressed, "#export")
    def _export_pressed(self) -> None:
        button = self.query_one("#export", Button)
        button.disabled = True
        log = self.query_one("#export-log", RichLog)
        log.clear()
        log.write(f"$ {command_text(self._export_args(self.run))}")
        self.export(self._export_args(str(self.run_dir)))

    @work(thread=True, group="export")
    def export(self, args: list[str]) -> None:
        """The console command itself: its progress lines, verification table and verdict."""
        log = self.query_one("#export-log", RichLog)

        def line(text: str) -> None:
            self.app.call_from_thread(log.write, text)

        code = self.services.run_command(args, line)
        verdict = {0: "export verified", 1: "export FAILED verification (see the table)"}
        said = verdict.get(code, f"export refused (exit {code})")
        self.app.call_from_thread(self._export_done, said)

    def _export_done(self, verdict: str) -> None:
        self.query_one("#export-log", RichLog).write(f"== {verdict}")
        self.query_one("#export", Button).disabled = False

    # -- serve ---------------------------------------------------------------------------
    def _port(self) -> int | None:
        try:
            return parse_port(self.query_one("#port", Input).value)
        except UserError:
            return None

    @on(Input.Changed, "#port")
    def _show_serve_command(self, _: Any = None) -> None:
        port = self._port()
        line = command_text(serve_args(self.run, port)) if port else "(port: 1-65535)"
        self.query_one("#serve-console", Static).update(Text(f"console: {line}"))

    @on(Button.Pressed, "#serve")
    def _serve_pressed(self) -> None:
        if self.server is not None and self.server.running:
            # Not disabled while it stops: a disabled button would lose the focus.
            if not self.stopping:
                self.stopping = True
                self.query_one("#serve", Button).label = "Stopping…"
                self.stop_server()
            return
        try:
            port = parse_port(self.query_one("#port", Input).value)
        except UserError as err:
            self._serve_status(err.line())
            return
        self.query_one("#serve-log", RichLog).clear()
        self.curl, self.serving = "", False
        self.server = self.services.start_server(self.run_dir, port)
        self.query_one("#serve", Button).label = "Stop"
        self._serve_status(f"starting on {self.server.url} ({LOADING})")
        self.follow_server(self.server)
        self.watch_ready(self.server)

    def _serve_status(self, text: str) -> None:
        self.query_one("#serve-status", Static).update(Text(text))

    @work(thread=True, group="serve-log")
    def follow_server(self, server: ServerProcess) -> None:
        log = self.query_one("#serve-log", RichLog)

        def line(text: str) -> None:
            self.app.call_from_thread(log.write, text)
            if text.startswith("try: curl"):
                self.curl = text
                self.app.call_from_thread(self._show_serving, server)

        code = server.follow(line)
        self.app.call_from_thread(self._server_ended, server, code)

    @work(thread=True, group="serve-ready")
    def watch_ready(self, server: ServerProcess) -> None:
        if server.wait_ready():
            self.serving = True
            self.app.call_from_thread(self._show_serving, server)

    def _show_serving(self, server: ServerProcess) -> None:
        """The URL and the curl line, once the server answers (its line may come later)."""
        if self.serving and server is self.server:
            self._serve_status(f"serving {server.url}" + (f"\n{self.curl}" if self.curl else ""))

    @work(thread=True, group="serve-stop")
    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()

    def _server_ended(self, server: ServerProcess, code: int) -> None:
        if server is not self.server:
            return
        self.serving = self.stopping = False
        self.query_one("#serve", Button).label = "Start"
        self._serve_status("stopped" if code in (0, -2, 130) else f"the server exited ({code})")
