"""The OpenAI-compatible app `tunetui serve` runs when vLLM cannot: FastAPI over the same
generation code as `tunetui chat` (`inference.generate_ids`, `chat.stream_text`).

One base model is loaded once; each LoRA adapter is loaded into it by name (peft's
multi-adapter support), so ``model`` in a request picks the base or any adapter without a
second copy of the weights. Generation is serialised by a lock (one model, one forward at a
time); requests are bounded: at most ``max_concurrent`` admitted at once (the next gets
429), ``max_tokens`` capped, bodies over ``max_body`` bytes refused (413; the bytes that
arrive are counted, chunked or not). Every error is an OpenAI-style body
``{"error": {"message", "type", "param", "code"}}``, never a traceback.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field


@dataclass
class Limits:
    """What one request may ask for, and how many may run at once."""

    max_tokens: int = 1024
    max_concurrent: int = 4
    max_body: int = 256 * 1024


@dataclass
class Served:
    """The loaded model: the base's name, the adapters' names, and generation's lock."""

    model: Any
    tokenizer: Any
    base_name: str
    adapters: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def names(self) -> list[str]:
        return [*self.adapters, self.base_name]

    def select(self, name: str) -> Any:
        """A context manager in which the model answers as ``name`` (base or adapter)."""
        import contextlib

        if name == self.base_name:
            if not self.adapters:
                return contextlib.nullcontext()
            return self.model.disable_adapter()
        self.model.set_adapter(name)
        return contextlib.nullcontext()


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class _Common(BaseModel):
    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    stream: bool = False


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)


class CompletionRequest(_Common):
    prompt: str


class ApiError(Exception):
    """An error the client caused, returned as an OpenAI-style body."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None):
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def build_app(served: Served, limits: Limits, api_key: str | None) -> Any:
    """The FastAPI app: /v1/models, /v1/chat/completions, /v1/completions, /health."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    app = FastAPI(title="tunetui serve", docs_url=None, redoc_url=None)
    admitted = threading.BoundedSemaphore(limits.max_concurrent)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.kind, exc.code), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        message = f"{where or 'body'}: {first.get('msg', 'invalid request')}"
        body = error_body(message, "invalid_request_error", "invalid_request", where)
        return JSONResponse(body, status_code=400)

    app.add_middleware(_Guard, limits=limits, api_key=api_key)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        now = int(time.time())
        data = [
            {"id": n, "object": "model", "created": now, "owned_by": "tunetui"}
            for n in served.names
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> Any:
        messages = [m.model_dump() for m in body.messages]
        inputs = _chat_inputs(served, messages)
        return await _respond(served, limits, admitted, body, inputs, "chat.completion")

    @app.post("/v1/completions")
    async def complete(body: CompletionRequest) -> Any:
        inputs = served.tokenizer(body.prompt, return_tensors="pt")
        return await _respond(served, limits, admitted, body, inputs, "text_completion")

    return app


class _Guard:
    """Auth, then the body-size limit, before anything is parsed (pure ASGI).

    The limit counts the bytes that actually arrive, not the ``Content-Length`` header: a
    chunked body has no such header, and a client can send one that lies. The body (at most
    ``max_body`` bytes) is read here and handed on to the app unchanged; one byte over and
    the request gets 413 without the rest being read.
    """

    def __init__(self, app: Any, limits: Limits, api_key: str | None) -> None:
        self.app, self.limits, self.api_key = app, limits, api_key

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            body = error_body("invalid API key", "invalid_request_error", "invalid_api_key")
            await _send_json(send, 401, body)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.max_body:
            await self._too_large(send, f"request body of {declared} bytes")
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body:
                await self._too_large(send, f"request body of over {self.limits.max_body} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def receive_again() -> dict[str, Any]:
            return replay.pop() if replay else await receive()

        await self.app(scope, receive_again, send)

    async def _too_large(self, send: Any, what: str) -> None:
        message = f"{what} is over the {self.limits.max_body} limit"
        body = error_body(message, "invalid_request_error", "request_too_large")
        await _send_json(send, 413, body, close=True)


async def _send_json(send: Any, status: int, body: dict[str, Any], close: bool = False) -> None:
    """A whole JSON response; ``close`` when the rest of the request was left unread."""
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _chat_inputs(served: Served, messages: list[dict[str, str]]) -> Any:
    from tunetui.runner.infer.inference import chat_inputs

    try:
        return chat_inputs(served.tokenizer, messages)
    except Exception as exc:  # jinja's raise_exception: e.g. roles that must alternate
        raise ApiError(400, f"messages: {exc}", "invalid_request_error") from exc


def _checked(served: Served, limits: Limits, body: _Common) -> tuple[str, int]:
    """The model name and max tokens the request may have."""
    name = body.model or served.names[0]
    if name not in served.names:
        message = f"model '{name}' is not served here (models: {', '.join(served.names)})"
        raise ApiError(404, message, "invalid_request_error", "model_not_found")
    wanted = body.max_completion_tokens or body.max_tokens or min(256, limits.max_tokens)
    if wanted > limits.max_tokens:
        message = f"max_tokens {wanted} is over this server's limit of {limits.max_tokens}"
        raise ApiError(400, message, "invalid_request_error", "max_tokens_too_large")
    return name, wanted


async def _respond(served, limits, admitted, body: _Common, inputs: Any, kind: str) -> Any:
    """Run one generation (streamed or not) inside the concurrency and model locks."""
    from fastapi.responses import StreamingResponse
    from starlette.concurrency import run_in_threadpool

    name, max_tokens = _checked(served, limits, body)
    if not admitted.acquire(blocking=False):
        message = f"server busy: {limits.max_concurrent} requests already running"
        raise ApiError(429, message, "rate_limit_error", "too_many_requests")
    reply = _Reply(served, name, inputs, max_tokens, body.temperature, kind)
    if body.stream:
        return StreamingResponse(
            _released(reply.events(), admitted), media_type="text/event-stream"
        )
    try:
        return await run_in_threadpool(reply.whole)
    finally:
        admitted.release()


def _released(events: Iterator[str], admitted: threading.BoundedSemaphore) -> Iterator[str]:
    try:
        yield from events
    finally:
        admitted.release()


@dataclass
class _Reply:
    """One generation, as a whole JSON body or as server-sent events."""

    served: Served
    name: str
    inputs: Any
    max_tokens: int
    temperature: float
    kind: str
    id: str = field(default_factory=lambda: f"tt-{uuid.uuid4().hex[:16]}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _envelope(self, choice: dict[str, Any], chunk: bool = False) -> dict[str, Any]:
        kind = self.kind + (".chunk" if chunk and self.kind == "chat.completion" else "")
        head = {"id": self.id, "object": kind, "created": self.created, "model": self.name}
        return head | {"choices": [{"index": 0, **choice}]}

    def _choice(self, text: str, finish: str | None, chunk: bool) -> dict[str, Any]:
        if self.kind == "text_completion":
            return {"text": text, "finish_reason": finish}
        key, value = ("delta", {"content": text}) if chunk else ("message", None)
        if not chunk:
            value = {"role": "assistant", "content": text}
        return {key: value if (text or not chunk) else {}, "finish_reason": finish}

    def whole(self) -> dict[str, Any]:
        from tunetui.runner.infer.inference import generate_ids

        tokenizer = self.served.tokenizer
        with self.served.lock, self.served.select(self.name):
            ids = generate_ids(
                self.served.model, tokenizer, self.inputs, self.max_tokens, self.temperature
            )
        text = tokenizer.decode(ids, skip_special_tokens=True).strip()
        prompt, completion = int(self.inputs["input_ids"].shape[1]), len(ids)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage["total_tokens"] = prompt + completion
        finish = "length" if completion >= self.max_tokens else "stop"
        return self._envelope(self._choice(text, finish, chunk=False)) | {"usage": usage}

    def events(self) -> Iterator[str]:
        from tunetui.runner.infer.chat import stream_text

        stop = threading.Event()
        with self.served.lock, self.served.select(self.name):
            stream = stream_text(
                self.served.model, self.served.tokenizer, self.inputs,
                self.max_tokens, self.temperature, stop,
            )  # fmt: skip
            for piece in stream:
                if piece:
                    yield _sse(self._envelope(self._choice(piece, None, True), chunk=True))
        yield _sse(self._envelope(self._choice("", "stop", True), chunk=True))
        yield "data: [DONE]\n\n"


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"
