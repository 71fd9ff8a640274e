"""The TUI's child processes on a tiny model (the TUI itself never imports torch).

`services.ChatProcess` drives ``python -m tunetui.runner.infer.chat`` over JSON lines: it
streams pieces, turns a bad request into one line without dying, and exits when its input
closes (tuned vs base answers from one adapter load: tests/runner/test_serve.py).
`ServerProcess` is ``tunetui serve``: it answers once loaded and stops on Ctrl+C.
`run_command` hands a command's lines over and returns its exit code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.tui.runprocs import ChatProcess
from tunetui.tui.services import Services


def test_one_process_answers_and_survives_a_bad_request(tiny_model_dir: Path) -> None:
    chat = ChatProcess(tiny_model_dir)
    try:
        chat.wait_ready()
        assert chat.label == str(tiny_model_dir) and chat.base == "llama"
        pieces: list[str] = []
        messages = [{"role": "user", "content": "hi"}]
        answer = chat.ask(messages, "tuned", pieces.append, max_new_tokens=6)
        assert pieces and "".join(pieces).strip() == answer
        assert isinstance(chat.ask(messages, "base", max_new_tokens=6), str)
        with pytest.raises(UserError) as info:
            chat.ask([{"role": "nobody"}], "tuned", max_new_tokens=2)
        assert len(str(info.value).splitlines()) == 1
        assert isinstance(chat.ask(messages, "tuned", max_new_tokens=2), str)  # still alive
    finally:
        chat.close()
    assert chat._proc.returncode == 0


def test_a_missing_run_is_one_line_from_the_process(tmp_path: Path) -> None:
    chat = ChatProcess(tmp_path / "no-such-run")
    with pytest.raises(UserError, match="does not exist") as info:
        chat.wait_ready()
    assert len(info.value.line().splitlines()) == 1


def test_the_server_process_answers_once_loaded_and_stops(tiny_model_dir: Path) -> None:
    import json
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = Services().start_server(tiny_model_dir, port)
    lines: list[str] = []
    try:
        assert server.wait_ready(timeout_s=120), "the server never answered /health"
        with urllib.request.urlopen(f"{server.url}/models", timeout=30) as response:
            names = [m["id"] for m in json.loads(response.read())["data"]]
        assert names == ["llama"]
    finally:
        server.stop()
    assert not server.running
    server.follow(lines.append)  # what it printed, to the end
    assert any(line.startswith("try: curl") for line in lines)


def test_a_command_s_lines_and_exit_code_come_back(tmp_path: Path) -> None:
    lines: list[str] = []
    code = Services().run_command(["export", str(tmp_path / "no-such-run")], lines.append)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ")


def test_the_end_of_stdin_is_the_parent_s_end() -> None:
    import os
    import threading

    from tunetui.runner.infer.serve import exit_with_parent

    read_end, write_end = os.pipe()
    ended = threading.Event()
    with os.fdopen(read_end, "rb") as stream:
        exit_with_parent(ended.set, stream)
        os.write(write_end, b"anything the parent might write is not an end\n")
        assert not ended.is_set()
        os.close(write_end)  # what the kernel does when the parent dies
        assert ended.wait(10), "the watcher never saw the end of its input"


def test_a_killed_tui_leaves_no_server_behind(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The TUI process is SIGKILLed (no cleanup runs): its server still goes."""
    import os
    import socket
    import subprocess
    import sys

    from tests.waiting import wait_until

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from tunetui.tui.runprocs import ServerProcess\n"
        f"server = ServerProcess(Path({str(tiny_model_dir)!r}), {port})\n"
        "assert server.wait_ready(120), 'never ready'\n"
        "print(server._proc.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    tui = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=180)  # fmt: skip
    assert tui.returncode == -9, tui.stderr[-2000:]
    pid = int(tui.stdout.split()[0])

    def gone() -> bool:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True
        return "\nState:\tZ" in status  # exited, waiting for init to reap it

    try:
        wait_until(gone, timeout=60, what=f"the orphaned server {pid} to exit")
    finally:
        if not gone():
            os.kill(pid, 9)
