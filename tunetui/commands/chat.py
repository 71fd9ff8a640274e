"""`tunetui chat`: talk to a model or a trained adapter (REPL, or one-shot with --prompt)."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(add_completion=False)


@app.command()
def chat(
    target: str = typer.Argument(
        ..., help="A run (name or folder), an adapter folder, a model folder or a model id."
    ),
    adapter: str | None = typer.Option(None, "--adapter", help="A LoRA adapter folder to apply."),
    prompt: str | None = typer.Option(
        None, "--prompt", "-p", help="Ask once, print the answer, exit (for scripts)."
    ),
    system: str | None = typer.Option(None, "--system", help="A system prompt."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, max=32768),
    temperature: float = typer.Option(
        0.0, "--temperature", min=0.0, max=5.0, help="0 = greedy (reproducible)."
    ),
) -> None:
    """Chat with a model: streaming answers, /reset, /exit, Ctrl+D.

    Without --prompt and with stdin not a terminal, stdin is read as one prompt.
    """
    from tunetui.planner.errors import UserError
    from tunetui.runner.infer.target import resolve_target

    resolved = resolve_target(target, adapter)
    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read().strip()
        if not prompt:
            raise UserError("stdin is empty and no --prompt was given", "pass --prompt TEXT")

    from tunetui.runner.infer.chat import ChatSession, repl
    from tunetui.runner.infer.inference import load_model

    model, tokenizer = load_model(resolved, merge=True)
    session = ChatSession(model, tokenizer, system, max_new_tokens, temperature)
    if prompt is not None:
        typer.echo(session.ask(prompt))
        return
    repl(session, title=resolved.label)
