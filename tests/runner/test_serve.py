"""`tunetui serve` on a tiny model: a real uvicorn server on 127.0.0.1, plain HTTP calls.

The server runs in a thread with ``max_requests`` set, so it stops by itself after the
requests below (the test joins it with a timeout). It serves the tiny base and a LoRA
adapter by name; auth, a malformed body, a too-large body and a too-large max_tokens all
get OpenAI-style error bodies.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.infer.serve import ServePlan, plan_serve, serve, vllm_command
from tunetui.runner.infer.serve_app import Limits
from waiting import wait_until

KEY = "test-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _call(port: int, path: str, body: object = None, key: str | None = KEY, raw: bytes = b""):
    """(status, response text) for one request; errors are responses too."""
    data = raw or (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def adapter_dir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(tmp_path / "tuned")
    return tmp_path / "tuned"


REQUESTS = 8  # the calls made in the test below; the server exits after the last one


def test_server_streams_answers_and_refuses_bad_requests(adapter_dir: Path) -> None:
    port = _free_port()
    limits = Limits(max_tokens=16, max_concurrent=2, max_body=4096)
    plan = plan_serve(str(adapter_dir), [], "127.0.0.1", port, KEY, False, "auto", limits)
    assert plan.backend == "transformers" and plan.adapters == {"tuned": adapter_dir}
    thread = threading.Thread(target=serve, args=(plan, REQUESTS), daemon=True)
    thread.start()
    wait_until(lambda: _listening(port), timeout=120, what="the server to listen")

    status, text = _call(port, "/v1/models")
    assert status == 200
    assert [m["id"] for m in json.loads(text)["data"]] == ["tuned", plan.base_name]

    chat = {"model": "tuned", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
    status, text = _call(port, "/v1/chat/completions", {**chat, "stream": True})
    assert status == 200
    events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)

    status, text = _call(port, "/v1/chat/completions", chat)
    reply = json.loads(text)
    assert status == 200 and reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["content"] == streamed.strip()  # greedy: same text
    assert reply["usage"]["completion_tokens"] <= 8

    status, text = _call(port, "/v1/completions", {"model": plan.base_name, "prompt": "The"})
    assert status == 200 and json.loads(text)["object"] == "text_completion"

    status, text = _call(port, "/v1/models", key="wrong")
    assert status == 401 and json.loads(text)["error"]["code"] == "invalid_api_key"
    status, text = _call(port, "/v1/chat/completions", raw=b'{"messages": "not a list"')
    error = json.loads(text)["error"]
    assert status == 400 and error["type"] == "invalid_request_error"
    status, text = _call(port, "/v1/chat/completions", {**chat, "max_tokens": 10_000})
    assert status == 400 and json.loads(text)["error"]["code"] == "max_tokens_too_large"
    status, text = _call(port, "/v1/completions", {"prompt": "x" * 5000})
    assert status == 413 and json.loads(text)["error"]["code"] == "request_too_large"

    thread.join(timeout=30)
    assert not thread.is_alive(), "the server did not stop after its last request"


def test_public_host_needs_a_key_or_no_auth(tiny_model_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("TUNETUI_API_KEY", raising=False)
    with pytest.raises(UserError, match="--api-key"):
        plan_serve(str(tiny_model_dir), [], "0.0.0.0", 8000, None, False)
    plan = plan_serve(str(tiny_model_dir), [], "0.0.0.0", 8000, None, True, "transformers")
    assert plan.api_key is None


def test_public_host_without_key_is_one_line_from_the_cli(cli, tiny_model_dir, monkeypatch):
    monkeypatch.delenv("TUNETUI_API_KEY", raising=False)
    code, _, err = cli("serve", str(tiny_model_dir), "--host", "0.0.0.0")
    assert code == 2 and "--no-auth" in err and len(err.strip().splitlines()) == 1


def test_vllm_command_serves_adapters_by_name(tmp_path: Path) -> None:
    plan = ServePlan(
        base=tmp_path / "base", base_name="base", adapters={"demo": tmp_path / "adapter"},
        host="127.0.0.1", port=9000, api_key="k", backend="vllm",
    )  # fmt: skip
    cmd = vllm_command(plan)
    assert cmd[1:3] == ["serve", str(tmp_path / "base")]
    assert cmd[cmd.index("--lora-modules") + 1] == f"demo={tmp_path / 'adapter'}"
    assert cmd[cmd.index("--api-key") + 1] == "k" and "--enable-lora" in cmd


def test_vllm_under_the_tui_runs_as_a_child_and_stops_with_it(tmp_path: Path, monkeypatch):
    """Under ``--exit-with-parent`` vLLM is not exec'd: a child, stopped when stdin ends."""
    import os
    import sys
    import time
    from types import SimpleNamespace

    from tunetui.runner.infer import serve as serve_module

    plan = ServePlan(base=tmp_path / "base", base_name="base", adapters={}, host="127.0.0.1",
                     port=9000, api_key=None, backend="vllm")  # fmt: skip
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]  # stands in for vLLM
    monkeypatch.setattr(serve_module, "vllm_command", lambda plan: sleeper)
    read_end, write_end = os.pipe()
    os.close(write_end)  # the TUI is already gone
    with os.fdopen(read_end, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=stdin))
        started = time.monotonic()
        with pytest.raises(SystemExit) as ended:
            serve(plan, with_parent=True)
    assert ended.value.code != 0 and time.monotonic() - started < 60  # interrupted, not slept


def test_two_adapters_share_one_base_and_answer_differently(adapter_dir: Path, tmp_path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from tunetui.runner.infer.serve import load_served

    base_dir = resolve_base(adapter_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(2)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(tmp_path / "other")
    plan = plan_serve(
        str(adapter_dir), [f"second={tmp_path / 'other'}"], "127.0.0.1", 1, None, False,
        "transformers",
    )  # fmt: skip
    served = load_served(plan)
    assert served.names == ["tuned", "second", plan.base_name]
    ids = torch.tensor([[1, 5, 9, 42]])
    outputs = {}
    for name in served.names:
        with served.select(name), torch.inference_mode():
            outputs[name] = served.model(input_ids=ids).logits
    assert not torch.allclose(outputs["tuned"], outputs["second"])
    assert not torch.allclose(outputs["tuned"], outputs[plan.base_name])


def resolve_base(adapter: Path) -> Path:
    from tunetui.runner.infer.target import resolve_target

    return resolve_target(str(adapter)).base


def _chunked_post(port: int, path: str, pieces: list[bytes]) -> tuple[int, dict, str]:
    """POST ``pieces`` with Transfer-Encoding: chunked (no Content-Length header at all)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for piece in pieces:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def test_the_size_limit_holds_for_chunked_bodies_without_content_length() -> None:
    """The limit counts the bytes that arrive: a chunked body has no Content-Length to read.
    No model is needed: the guard answers before any handler runs."""
    import uvicorn
    from tunetui.runner.infer.serve_app import Served, build_app

    port = _free_port()
    app = build_app(Served(None, None, "base"), Limits(max_body=4096), None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: _listening(port), timeout=60, what="the server to listen")
        status, _, text = _chunked_post(port, "/v1/completions", [b'{"prompt": "', b"x" * 5000])
        assert status == 413 and json.loads(text)["error"]["code"] == "request_too_large"
        # Under the limit, the chunked body reaches the app whole: it is parsed (and refused).
        status, _, text = _chunked_post(port, "/v1/chat/completions", [b'{"messages"', b": 1}"])
        assert status == 400 and json.loads(text)["error"]["param"] == "messages"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_the_tui_chat_protocol_answers_as_tuned_and_base(adapter_dir: Path) -> None:
    """`chat.serve_lines` (the TUI's chat process): one adapter load answers as the tuned
    model and as its base (peft's ``disable_adapter``, as the server's names do)."""
    import io

    from tunetui.runner.infer.chat import serve_lines

    ask = {"messages": [{"role": "user", "content": "Hi"}], "max_new_tokens": 6}
    requests = [{"id": 1, **ask, "model": "tuned"}, {"id": 2, **ask, "model": "base"}]
    stdin, out = io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), io.StringIO()
    code = serve_lines(str(adapter_dir), stdin, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == 0 and lines[0] == {"ready": True, "label": str(adapter_dir), "base": "llama"}
    done = {m["id"]: m for m in lines if m.get("done")}
    assert sorted(done) == [1, 2]
    for ident in (1, 2):
        pieces = "".join(m["piece"] for m in lines if m.get("id") == ident and "piece" in m)
        assert pieces.strip() == done[ident]["text"]
