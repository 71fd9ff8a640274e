"""Chatting with a model or a trained adapter: a streaming terminal REPL and a one-shot call.

The REPL is what a user wants right after training ("did it learn?"): the answer streams
token by token (generation runs in a thread feeding a ``TextIteratorStreamer``), the
conversation keeps its history so follow-up questions work, ``/reset`` forgets it,
``/exit`` or Ctrl+D leaves, and Ctrl+C stops a long answer without leaving.

The one-shot form (``--prompt``) prints only the answer, so scripts can use it.

``python -m tunetui.runner.infer.chat RUN`` is the same conversation as a JSON-lines
process: the TUI's chat and base-vs-tuned comparison talk to it over stdin/stdout, so the
TUI never imports torch and stays responsive while a model loads or answers (`serve_lines`).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from tunetui.planner.errors import UserError
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


class _Models:
    """The tuned model and, for comparisons, its base, loaded once.

    An adapter run answers as its base inside peft's ``disable_adapter()`` (one copy of the
    weights); a fully fine-tuned run has no adapter, so its base model is loaded the first
    time a base answer is asked for.
    """

    def __init__(self, source: str) -> None:
        from tunetui.runner.infer.inference import load_model
        from tunetui.runner.infer.target import resolve_target

        self.target = resolve_target(source)
        self.model, self.tokenizer = load_model(self.target)
        self._base: tuple[Any, Any] | None = None

    def base_label(self) -> str:
        """What "base" means here, as the recipe names it (or the base folder)."""
        run_dir = self.target.run_dir
        if run_dir is not None:
            from tunetui.runner.recipe_io import load_recipe
            from tunetui.runner.rundir import RECIPE_FILE

            return load_recipe(run_dir / RECIPE_FILE).model.name_or_path
        return self.target.base.name

    def pick(self, which: str) -> tuple[Any, Any, Any]:
        """(model, tokenizer, context) answering as ``tuned`` or ``base`` (a plain model
        folder is its own base)."""
        if which != "base" or (self.target.adapter is None and self.target.run_dir is None):
            return self.model, self.tokenizer, contextlib.nullcontext()  # a plain model
        if self.target.adapter is not None:
            return self.model, self.tokenizer, self.model.disable_adapter()
        if self._base is None:
            from tunetui.runner.infer.inference import load_model
            from tunetui.runner.infer.target import resolve_target

            self._base = load_model(resolve_target(self.base_label()))
        return *self._base, contextlib.nullcontext()


def serve_lines(source: str, stdin: IO[str], stdout: IO[str]) -> int:
    """Answer JSON-lines requests on ``stdin`` until it closes (the TUI's chat process).

    First line out: ``{"ready": true, "label", "base"}`` once the model is loaded, or
    ``{"error": line, "problem", "fix"}`` (exit 2). Each request ``{"id", "messages",
    "model": "tuned"|"base", "max_new_tokens"}`` gets ``{"id", "piece"}`` lines as text is
    generated, then ``{"id", "done": true, "text"}`` or ``{"id", "error"}``. The caller
    keeps the history: a request carries the whole conversation, so chat and compare share
    one process.
    """

    def emit(**fields: Any) -> None:
        stdout.write(json.dumps(fields) + "\n")
        stdout.flush()

    try:
        models = _Models(source)
    except UserError as err:
        emit(error=err.line(), problem=err.problem, fix=err.fix)
        return 2
    emit(ready=True, label=models.target.label, base=models.base_label())
    for line in stdin:
        if not line.strip():
            continue
        ident = None
        try:
            request = json.loads(line)
            ident = request.get("id")
            model, tokenizer, context = models.pick(str(request.get("model", "tuned")))
            inputs = chat_inputs(tokenizer, list(request["messages"]))
            limit = int(request.get("max_new_tokens", 256))
            pieces: list[str] = []
            with context:
                for piece in stream_text(model, tokenizer, inputs, limit, 0.0, threading.Event()):
                    if piece:
                        pieces.append(piece)
                        emit(id=ident, piece=piece)
            emit(id=ident, done=True, text="".join(pieces).strip())
        except Exception as exc:  # one bad request (or template error) is an answer, not a crash
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            emit(id=ident, error=first)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tunetui.runner.infer.chat RUN|MODEL``: `serve_lines` on stdin/stdout."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tunetui.runner.infer.chat RUN|MODEL", file=sys.stderr)
        return 2
    return serve_lines(args[0], sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
