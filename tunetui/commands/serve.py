"""`tunetui serve`: an OpenAI-compatible API (/v1/chat/completions, /v1/completions,
/v1/models) for a run, a model, or a base model with LoRA adapters by name."""

from __future__ import annotations

import json

import typer

app = typer.Typer(add_completion=False)


@app.command()
def serve(
    target: str = typer.Argument(
        ..., help="A run (name or folder), an adapter folder, a model folder or a model id."
    ),
    adapter: list[str] = typer.Option(
        [], "--adapter", help="Another LoRA adapter to serve, as [NAME=]PATH (repeatable)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    api_key: str | None = typer.Option(
        None, "--api-key", help="Require 'Authorization: Bearer KEY' (or TUNETUI_API_KEY)."
    ),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Allow a non-local --host without an API key."
    ),
    backend: str = typer.Option("auto", "--backend", help="auto, vllm or transformers."),
    max_tokens: int = typer.Option(1024, "--max-tokens", min=1, help="Most tokens per reply."),
    max_concurrent: int = typer.Option(
        4, "--max-concurrent", min=1, help="Requests admitted at once; more get 429."
    ),
    max_request_kb: int = typer.Option(
        256, "--max-request-kb", min=1, help="Largest request body; larger get 413."
    ),
    max_requests: int | None = typer.Option(
        None, "--max-requests", min=1, help="Exit after this many requests (scripts, demos)."
    ),
    exit_with_parent: bool = typer.Option(
        False,
        "--exit-with-parent",
        hidden=True,
        help="Stop when stdin ends: the TUI holds it, so the server never outlives the TUI.",
    ),
) -> None:
    """Serve a model with an OpenAI-compatible API (localhost only unless --host).

    vLLM runs when it is installed and a GPU is present; otherwise a FastAPI app over the
    same generation code as `tunetui chat`. The banner says which.
    """
    from tunetui.runner.infer.serve import plan_serve
    from tunetui.runner.infer.serve import serve as run_server
    from tunetui.runner.infer.serve_app import Limits

    limits = Limits(max_tokens, max_concurrent, max_request_kb * 1024)
    plan = plan_serve(target, adapter, host, port, api_key, no_auth, backend, limits)
    typer.echo(plan.banner())
    first = [*plan.adapters, plan.base_name][0]
    example = json.dumps({"model": first, "messages": [{"role": "user", "content": "Hi"}]})
    auth = ' -H "Authorization: Bearer $KEY"' if plan.api_key else ""
    typer.echo(
        f"try: curl http://{plan.host}:{plan.port}/v1/chat/completions{auth} "
        f"-H 'Content-Type: application/json' -d '{example}'"
    )
    run_server(plan, max_requests, with_parent=exit_with_parent)
