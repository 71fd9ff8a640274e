"""A finished run's actions screen (chat, compare, export, serve) at 80x24, services faked.

The model process, the export command and the server are the runner's (tested with a
tiny model in tests/tui/test_tui_child_processes.py and tests/runner/); here they are fakes
that answer at once, so what is checked is the screen: it reaches each action by keyboard,
streams answers, shows the console equivalent of each action, the export's table and
verdict, and the server's URL and curl line, and stops what it started.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, RichLog, Static
from tui_fixtures import FixedServices, event, training_events, write_run
from tunetui.planner.errors import UserError
from tunetui.tui.app import TuneApp
from tunetui.tui.runactions import EXPORTS, GGUF_QUANTS, compare_commands, parse_port, run_word
from tunetui.tui.screens.run_actions import EMPTY
from waiting import pilot_until

SIZE = (80, 24)
Body = Callable[[Any, TuneApp, "ActionServices"], Awaitable[None]]
TABLE = ["check            result", "greedy answers   PASS  3/3 identical", "verdict: PASS"]


class FakeChat:
    """Answers "<model> says: <prompt>" in word pieces, as the chat process streams them."""

    label, base = "done", "smollm2-135m"

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[dict[str, str]]]] = []
        self.closed = False
        self.gate = threading.Event()  # "slow" prompts wait for it
        self.gate.set()

    def ask(self, messages, model="tuned", on_piece=None, max_new_tokens=256) -> str:
        self.asked.append((model, list(messages)))
        if messages[-1]["content"] == "silence":
            return ""  # a model that ends its answer at once
        if messages[-1]["content"] == "slow":
            self.gate.wait(20)
        answer = f"{model} says: {messages[-1]['content']}"
        for word in answer.split(" "):
            if on_piece is not None:
                on_piece(word + " ")
        return answer

    def close(self, wait: bool = True) -> None:
        self.closed = True


class FakeServer:
    """Prints what `tunetui serve` prints, then runs until stopped."""

    def __init__(self, port: int) -> None:
        self.port, self.url = port, f"http://127.0.0.1:{port}/v1"
        self._stopped = threading.Event()

    def follow(self, on_line: Callable[[str], None]) -> int:
        on_line(f"serving done, base with transformers on {self.url} (no auth)")
        on_line(f"try: curl {self.url}/chat/completions -d '{{}}'")
        self._stopped.wait(30)
        return 0

    def wait_ready(self, timeout_s: float = 600.0) -> bool:
        return True

    @property
    def running(self) -> bool:
        return not self._stopped.is_set()

    def interrupt(self) -> None:
        self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()


class ActionServices(FixedServices):
    def __init__(self) -> None:
        super().__init__(real_data=False)
        self.chat = FakeChat()
        self.commands: list[list[str]] = []
        self.servers: list[FakeServer] = []

    def open_chat(self, run_dir: Path) -> FakeChat:
        return self.chat

    def run_command(self, args: list[str], on_line: Callable[[str], None]) -> int:
        self.commands.append(args)
        for line in TABLE:
            on_line(line)
        return 0

    def start_server(self, run_dir: Path, port: int) -> FakeServer:
        self.servers.append(FakeServer(port))
        return self.servers[-1]


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A finished and a failed run under a runs root the commands find by name."""
    from tunetui.runner.rundir import RUNS_ENV

    root = tmp_path / "runs"
    monkeypatch.setenv(RUNS_ENV, str(root))
    monkeypatch.chdir(tmp_path)
    done = [*training_events(10, 10), event("end", 11, step=10, output="adapter")]
    write_run(root / "done", done)
    (root / "done" / "recipe.yaml").write_text("model: {name_or_path: smollm2-135m}\n")
    write_run(root / "broken", [*training_events(2, 10), event("error", 3, message="x")])
    return root


def _text(app: TuneApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def _log(app: TuneApp, selector: str) -> str:
    return "\n".join(line.text for line in app.screen.query_one(selector, RichLog).lines)


async def _open_actions(pilot, app: TuneApp) -> None:
    """Runs screen (ctrl+o), then ``a`` on the newest finished run."""
    await pilot_until(pilot, lambda: type(app.screen).__name__ == "HardwareScreen")
    await pilot.press("ctrl+o")
    await pilot_until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
    runs = app.screen.runs  # type: ignore[attr-defined]
    row = next(i for i, r in enumerate(runs) if r.name == "done")
    for _ in range(row):
        await pilot.press("down")
    await pilot.press("a")
    await pilot_until(pilot, lambda: type(app.screen).__name__ == "RunActionsScreen")
    await pilot_until(pilot, lambda: "model loaded" in _text(app, "#chat-text"), what="load")


async def _press(pilot, button) -> None:
    """Enter on the focused button, once its last press's effect is over (a button ignores
    presses during it)."""
    await pilot_until(pilot, lambda: not button.has_class("-active"), what="press effect")
    assert button.has_focus
    await pilot.press("enter")


async def _type(pilot, text: str) -> None:
    await pilot.press(*[" " if c == " " else c for c in text], "enter")


def _on_actions(runs: Path, body: Body, tab: str = "") -> ActionServices:
    """``body(pilot, app, services)`` on the actions screen of run ``done`` (on the tab of
    key ``tab``); the services, to check what was asked of them after the app quit."""
    services = ActionServices()

    async def scenario() -> None:
        app = TuneApp(services=services, runs_root=runs)
        async with app.run_test(size=SIZE) as pilot:
            await _open_actions(pilot, app)
            if tab:
                await pilot.press(tab)
                await pilot.pause()
            await body(pilot, app, services)

    asyncio.run(scenario())
    return services


def test_chat_streams_answers_keeps_history_and_prints_the_console_command(runs) -> None:
    async def body(pilot, app: TuneApp, services: ActionServices) -> None:
        assert "console: tunetui chat done" in _text(app, ".console")
        await _type(pilot, "hello")
        await pilot_until(pilot, lambda: "tuned says: hello" in _text(app, "#chat-text"))
        await _type(pilot, "again")
        await pilot_until(pilot, lambda: len(services.chat.asked) == 2, what="2nd answer")
        model, messages = services.chat.asked[-1]
        assert model == "tuned" and [m["content"] for m in messages] == [
            "hello", "tuned says: hello", "again",
        ]  # fmt: skip
        await _type(pilot, "silence")
        await pilot_until(pilot, lambda: EMPTY in _text(app, "#chat-text"), what="a note")
        await _type(pilot, "/reset")
        await pilot_until(pilot, lambda: "hello" not in _text(app, "#chat-text"))
        await pilot.press("escape")
        await pilot_until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        await pilot_until(pilot, lambda: services.chat.closed, what="the chat to close")

    _on_actions(runs, body)


def test_a_prompt_waits_in_its_field_while_an_answer_is_coming(runs) -> None:
    async def body(pilot, app: TuneApp, services: ActionServices) -> None:
        services.chat.gate.clear()
        await _type(pilot, "slow")
        await pilot_until(pilot, lambda: len(services.chat.asked) == 1, what="the 1st ask")
        await _type(pilot, "next")
        field = app.screen.query_one("#chat-input", Input)
        assert field.value == "next" and len(services.chat.asked) == 1
        assert any("still answering" in str(n.message) for n in app._notifications)
        services.chat.gate.set()
        await pilot_until(pilot, lambda: "tuned says: slow" in _text(app, "#chat-text"))
        await pilot_until(pilot, lambda: "chat" not in app.screen.busy, what="the answer")
        await pilot.press("enter")
        await pilot_until(pilot, lambda: "tuned says: next" in _text(app, "#chat-text"))
        assert [m["content"] for m in services.chat.asked[-1][1]] == [
            "slow", "tuned says: slow", "next",
        ]  # fmt: skip

    _on_actions(runs, body)


def test_compare_shows_base_and_tuned_answers_side_by_side(runs) -> None:
    async def body(pilot, app: TuneApp, services: ActionServices) -> None:
        await _type(pilot, "capital of France")
        await pilot_until(pilot, lambda: "tuned says" in _text(app, "#tuned-answer"))
        assert _text(app, "#base-answer").strip() == "base says: capital of France"
        assert app.screen.query_one("#base-box").border_title == "base: smollm2-135m"
        console = _text(app, "#compare-console")
        assert "tunetui chat smollm2-135m --prompt 'capital of France'" in console
        assert "tunetui chat done --prompt 'capital of France'" in console

    _on_actions(runs, body, tab="f2")


def test_export_runs_the_console_command_and_shows_its_table(runs) -> None:
    expected = "tunetui export done --gguf --quant q8_0"

    async def body(pilot, app: TuneApp, services: ActionServices) -> None:
        assert f"console: {expected}" in _text(app, "#export-console")
        await pilot.press("tab", "tab", "enter")  # kind, overwrite, Export
        await pilot_until(pilot, lambda: "export verified" in _log(app, "#export-log"))
        log = _log(app, "#export-log")
        assert log.startswith(f"$ {expected}") and "verdict: PASS" in log

    services = _on_actions(runs, body, tab="f3")
    assert services.commands == [["export", str(runs / "done"), "--gguf", "--quant", "q8_0"]]


def test_serve_shows_url_and_curl_line_and_stops(runs) -> None:
    async def body(pilot, app: TuneApp, services: ActionServices) -> None:
        assert "tunetui serve done --port 8000" in _text(app, "#serve-console")
        await pilot.press("tab", "enter")  # port, Start
        button = app.screen.query_one("#serve")
        await pilot_until(pilot, lambda: "serving http://" in _text(app, "#serve-status"))
        status = _text(app, "#serve-status")
        assert "http://127.0.0.1:8000/v1" in status and "try: curl" in status
        await _press(pilot, button)  # Stop
        await pilot_until(pilot, lambda: _text(app, "#serve-status") == "stopped")
        assert not services.servers[0].running
        await _press(pilot, button)  # Start again, then quit the app: it stops too
        await pilot_until(pilot, lambda: len(services.servers) == 2, what="2nd server")
        await pilot.press("ctrl+q")

    services = _on_actions(runs, body, tab="f4")
    assert not services.servers[1].running


def test_an_unfinished_run_has_no_actions(runs) -> None:
    async def scenario() -> None:
        app = TuneApp(services=ActionServices(), runs_root=runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot_until(pilot, lambda: type(app.screen).__name__ == "HardwareScreen")
            await pilot.press("ctrl+o")
            await pilot_until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
            row = next(i for i, r in enumerate(app.screen.runs) if r.name == "broken")
            for _ in range(row):
                await pilot.press("down")
            await pilot.press("a")
            await pilot.pause()
            assert type(app.screen).__name__ == "RunsScreen"
            assert any("need a finished run" in str(n.message) for n in app._notifications)

    asyncio.run(scenario())


def test_command_lines_name_the_run_and_quote_prompts(runs, tmp_path: Path) -> None:
    from tunetui.runner.infer.gguf import QUANTS

    assert tuple(GGUF_QUANTS) == tuple(QUANTS)
    assert [c.args("r") for c in EXPORTS][:2] == [["export", "r"], ["export", "r", "--gguf",
                                                                     "--quant", "f16"]]  # fmt: skip
    assert EXPORTS[0].args("r", overwrite=True)[-1] == "--overwrite"
    assert run_word(runs / "done") == "done"
    elsewhere = write_run(tmp_path / "elsewhere" / "done", training_events(1, 1))
    assert run_word(elsewhere) == "elsewhere/done"  # the name would find the other one
    assert compare_commands("done", "org/base", "it's")[0] == (
        "tunetui chat org/base --prompt 'it'\"'\"'s'"
    )
    assert parse_port(" 8080 ") == 8080
    with pytest.raises(UserError, match="not a port"):
        parse_port("80a")


def test_snapshot_of_the_actions_screen(runs, snap_compare) -> None:
    services = ActionServices()
    app = TuneApp(services=services, runs_root=runs)

    async def run_before(pilot) -> None:
        await _open_actions(pilot, app)
        await _type(pilot, "hello")
        await pilot_until(pilot, lambda: "tuned says: hello" in _text(app, "#chat-text"))
        await pilot_until(pilot, lambda: not any(w.is_running for w in app.workers))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
