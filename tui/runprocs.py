"""The child processes behind a finished run's actions (chat, compare, export, serve).

What those actions need is torch, which the TUI never imports: the model answers from
``python -m tunetui.runner.infer.chat RUN`` (JSON lines, loaded once), export and serve are
the ``tunetui`` commands. `tui.services.Services` hands these out to the screens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tunetui.planner.errors import UserError


def tunetui_child(args: list[str], stdin: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """``tunetui ARGS`` as a child (this interpreter, so the same install), output merged
    and line-buffered for the screen; ``PYTHONUNBUFFERED`` so lines come as they are said."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tunetui", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
    )


def _stop(proc: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """Ctrl+C first (uvicorn and the chat loop finish cleanly), then kill."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ChatProcess:
    """``python -m tunetui.runner.infer.chat RUN``: the run's model, loaded once, answering
    JSON-lines requests (`runner.infer.chat.serve_lines`) as the tuned model or its base.

    One request at a time (a lock): the chat and the comparison share the process.
    """

    def __init__(self, run_dir: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tunetui.runner.infer.chat", str(run_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # warnings; the protocol reports errors itself
            text=True,
            bufsize=1,
            env=env,
        )
        self._lock = threading.Lock()
        self._next = 0
        self.label, self.base = run_dir.name, "base"

    def _read(self) -> dict[str, Any]:
        """The next protocol line (anything else a library printed is skipped)."""
        out: IO[str] | None = self._proc.stdout
        assert out is not None
        for line in out:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                return message
        raise UserError(
            f"the chat process ended (exit code {self._proc.wait()})",
            "try `tunetui chat` on the run in a terminal to see why",
        )

    def wait_ready(self) -> None:
        first = self._read()
        if "error" in first:
            self.close()
            problem = str(first.get("problem") or first["error"])
            raise UserError(problem, str(first.get("fix") or ""))
        self.label, self.base = str(first.get("label", self.label)), str(first.get("base", ""))

    def ask(
        self,
        messages: list[dict[str, str]],
        model: str = "tuned",
        on_piece: Callable[[str], None] | None = None,
        max_new_tokens: int = 256,
    ) -> str:
        """The answer to the conversation ``messages`` (pieces to ``on_piece`` as they come)."""
        with self._lock:
            self._next += 1
            request = {"id": self._next, "messages": messages, "model": model,
                       "max_new_tokens": max_new_tokens}  # fmt: skip
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
            except OSError:
                self._read()  # raises with the exit code
            while True:
                message = self._read()
                if "piece" in message and on_piece is not None:
                    on_piece(str(message["piece"]))
                elif message.get("done"):
                    return str(message.get("text", ""))
                elif "error" in message:
                    raise UserError(str(message["error"]), "try a shorter or simpler prompt")

    def close(self, wait: bool = True) -> None:
        """End of input ends the process (also when the TUI dies: the pipe closes)."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        if not wait:
            return
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _stop(self._proc, grace_s=2)


class ServerProcess:
    """``tunetui serve RUN --port PORT``: its output lines, whether it answers, and stop.

    The TUI holds the server's stdin and the server exits when it ends
    (``--exit-with-parent``), so a TUI that crashes or is killed leaves no server behind.
    """

    def __init__(self, run_dir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/v1"
        args = ["serve", str(run_dir), "--port", str(port), "--exit-with-parent"]
        self._proc = tunetui_child(args, stdin=subprocess.PIPE)

    def follow(self, on_line: Callable[[str], None]) -> int:
        """Hand each output line to ``on_line`` until the server exits; its exit code."""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            on_line(line.rstrip("\n"))
        return self._proc.wait()

    def wait_ready(self, timeout_s: float = 600.0) -> bool:
        """True once ``/health`` answers (the model is loaded); False if it exited first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{self.port}/health"
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(0.5)
        return False

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def interrupt(self) -> None:
        """Ctrl+C to the server, without waiting (the TUI is closing)."""
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.send_signal(signal.SIGINT)

    def stop(self) -> None:
        _stop(self._proc)
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
