"""Chatting with a model or a trained adapter: a streaming terminal REPL and a one-shot call.

The REPL is what a user wants right after training ("did it learn?"): the answer streams
token by token (generation runs in a thread feeding a ``TextIteratorStreamer``), the
conversation keeps its history so follow-up questions work, ``/reset`` forgets it,
``/exit`` or Ctrl+D leaves, and Ctrl+C stops a long answer without leaving.

The one-shot form (``--prompt``) prints only the answer, so scripts can use it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tunetui.runner.infer.inference import chat_inputs, generate, generate_ids

HELP = (
    "Commands: /reset forgets the conversation, /exit (or Ctrl+D) leaves, Ctrl+C stops an answer."
)


@dataclass
class ChatSession:
    """A conversation with one model: settings plus the message history."""

    model: Any
    tokenizer: Any
    system: str | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    history: list[dict[str, str]] = field(default_factory=list)

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The history plus the new user turn, with the system prompt first when set."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, *self.history, {"role": "user", "content": prompt}]

    def reset(self) -> None:
        self.history.clear()

    def ask(self, prompt: str, on_text: Callable[[str], None] | None = None) -> str:
        """Answer ``prompt`` (streaming pieces to ``on_text`` when given) and remember both."""
        if on_text is None:
            answer = generate(
                self.model,
                self.tokenizer,
                self.messages(prompt),
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
            )
        else:
            answer = self._stream(prompt, on_text)
        self.history += [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ]
        return answer

    def _stream(self, prompt: str, on_text: Callable[[str], None]) -> str:
        """Hand text pieces to ``on_text`` as they come; Ctrl+C stops the answer (the
        partial answer is kept) without leaving the chat."""
        stop = threading.Event()
        inputs = chat_inputs(self.tokenizer, self.messages(prompt))
        pieces: list[str] = []
        stream = stream_text(
            self.model, self.tokenizer, inputs, self.max_new_tokens, self.temperature, stop
        )
        try:
            for piece in stream:
                pieces.append(piece)
                on_text(piece)
        except KeyboardInterrupt:
            stop.set()
            pieces.extend(stream)  # drain what was already generated
        return "".join(pieces).strip()


def stream_text(
    model: Any,
    tokenizer: Any,
    inputs: Any,
    max_new_tokens: int,
    temperature: float,
    stop: threading.Event,
) -> Iterator[str]:
    """Text pieces of the reply to tokenised ``inputs`` as they are generated.

    Generation runs in a thread feeding a ``TextIteratorStreamer``. Setting ``stop`` (Ctrl+C
    in the REPL, a client that went away from the server) ends it after the current token:
    a stopping criterion checks it after every token. Closing the iterator early sets it
    too, so an abandoned stream never leaves a thread generating.
    """
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
            return stop.is_set()

    streamer = TextIteratorStreamer(
        tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
    )
    errors: list[BaseException] = []

    def work() -> None:
        try:
            generate_ids(
                model, tokenizer, inputs, max_new_tokens, temperature,
                streamer=streamer, stopping_criteria=StoppingCriteriaList([_Stop()]),
            )  # fmt: skip
        except BaseException as exc:  # surfaced in the caller's thread below
            errors.append(exc)
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield from streamer
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]


def repl(session: ChatSession, title: str, console: Any = None) -> None:
    """The interactive loop on a rich console; returns on /exit, /quit or Ctrl+D."""
    from rich.console import Console

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - arrow keys and history for input()

    console = console or Console(highlight=False)
    console.print(f"[bold]Chatting with {title}[/bold]. {HELP}")
    while True:
        try:
            prompt = console.input("[bold green]you>[/bold green] ").strip()
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print()
            continue
        if not prompt:
            continue
        if prompt in ("/exit", "/quit"):
            return
        if prompt == "/reset":
            session.reset()
            console.print("[dim](conversation forgotten)[/dim]")
            continue
        if prompt.startswith("/"):
            console.print(f"[yellow]unknown command {prompt.split()[0]}[/yellow]. {HELP}")
            continue
        console.print("[bold cyan]bot>[/bold cyan] ", end="")
        session.ask(prompt, on_text=lambda piece: console.print(piece, end="", markup=False))
        console.print()
