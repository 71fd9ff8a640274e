"""`tunetui serve`: an OpenAI-compatible API for a run, a model, or a base with adapters.

Which server runs is decided once and stated: vLLM (its own OpenAI server, LoRA adapters
with ``--enable-lora``) when it is installed and a GPU is present, because it batches
requests and is what production uses; otherwise the FastAPI app in `serve_app`, over the
same generation code as `tunetui chat` (one request generates at a time).

Safety defaults: it binds to 127.0.0.1. Listening on any other address needs an API key
(``--api-key`` or ``TUNETUI_API_KEY``), or ``--no-auth`` to say an open server is meant.

A server the TUI starts must not outlive it, even when the TUI is killed: the TUI passes
``--exit-with-parent`` and holds the server's stdin open; end of input (the TUI's end, however
it came) stops the server as Ctrl+C would (`exit_with_parent`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tunetui.planner.errors import UserError
from tunetui.runner.infer.serve_app import Limits
from tunetui.runner.infer.target import Target, resolve_target

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServePlan:
    """What will be served, where, by which server."""

    base: Path
    base_name: str
    adapters: dict[str, Path]
    host: str
    port: int
    api_key: str | None
    backend: str
    limits: Limits = field(default_factory=Limits)
    trust_remote_code: bool = False

    def banner(self) -> str:
        names = ", ".join([*self.adapters, self.base_name])
        auth = "API key required" if self.api_key else "no auth"
        return (
            f"serving {names} with {self.backend} on http://{self.host}:{self.port}/v1 "
            f"({auth}; max_tokens {self.limits.max_tokens}, "
            f"{self.limits.max_concurrent} concurrent)"
        )


def _adapter_name(target: Target) -> str:
    assert target.adapter is not None
    return target.run_dir.name if target.run_dir is not None else target.adapter.name


def plan_serve(
    source: str,
    adapters: list[str],
    host: str,
    port: int,
    api_key: str | None,
    no_auth: bool,
    backend: str = "auto",
    limits: Limits | None = None,
) -> ServePlan:
    """Resolve RUN|MODEL (+ ``--adapter [NAME=]PATH``...) and check the safety rules."""
    api_key = api_key or os.environ.get("TUNETUI_API_KEY") or None
    if host not in LOOPBACK and not api_key and not no_auth:
        raise UserError(
            f"--host {host} would let anyone on the network use the model without a key",
            "pass --api-key KEY (or set TUNETUI_API_KEY), or --no-auth if that is intended",
        )
    target = resolve_target(source)
    named: dict[str, Path] = {}
    if target.adapter is not None:
        named[_adapter_name(target)] = target.adapter
    for spec in adapters:
        name, _, path = spec.rpartition("=")
        extra = resolve_target(str(target.base), adapter=path)
        assert extra.adapter is not None
        named[name or _adapter_name(extra)] = extra.adapter
    return ServePlan(
        base=target.base,
        base_name=target.base.name,
        adapters=named,
        host=host,
        port=port,
        api_key=api_key,
        backend=choose_backend(backend),
        limits=limits or Limits(),
        trust_remote_code=target.trust_remote_code,
    )


def _gpu_present() -> bool:
    import torch

    return torch.cuda.is_available()


def choose_backend(requested: str = "auto") -> str:
    """'vllm' when installed with a GPU (or asked for), else 'transformers'."""
    has_vllm = importlib.util.find_spec("vllm") is not None
    if requested == "vllm":
        if not has_vllm or not _gpu_present():
            raise UserError(
                "--backend vllm needs vLLM installed and a CUDA GPU",
                "pip install vllm on a GPU machine, or use --backend transformers",
            )
        return "vllm"
    if requested == "transformers":
        return "transformers"
    if requested != "auto":
        raise UserError(f"unknown --backend {requested!r}", "choose auto, vllm or transformers")
    return "vllm" if has_vllm and _gpu_present() else "transformers"


def vllm_command(plan: ServePlan) -> list[str]:
    """vLLM's own OpenAI server with the same model names, key and limits."""
    exe = shutil.which("vllm") or "vllm"
    cmd = [exe, "serve", str(plan.base), "--host", plan.host, "--port", str(plan.port)]
    cmd += ["--served-model-name", plan.base_name]
    cmd += ["--max-num-seqs", str(plan.limits.max_concurrent)]
    if plan.api_key:
        cmd += ["--api-key", plan.api_key]
    if plan.adapters:
        cmd += ["--enable-lora", "--lora-modules"]
        cmd += [f"{name}={path}" for name, path in plan.adapters.items()]
    if plan.trust_remote_code:
        cmd.append("--trust-remote-code")
    return cmd


def load_served(plan: ServePlan):  # -> serve_app.Served
    """The base model with every adapter loaded into it under its own name."""
    from tunetui.runner.infer.inference import load_model
    from tunetui.runner.infer.serve_app import Served

    base = Target(base=plan.base, trust_remote_code=plan.trust_remote_code)
    model, tokenizer = load_model(base)
    items = list(plan.adapters.items())
    if items:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, items[0][1], adapter_name=items[0][0])
        for name, path in items[1:]:
            model.load_adapter(str(path), adapter_name=name)
        model.eval()
    return Served(model, tokenizer, plan.base_name, [name for name, _ in items])


def exit_with_parent(on_eof: Callable[[], None], stream: BinaryIO | None = None) -> None:
    """Call ``on_eof`` when ``stream`` (stdin) reaches its end, from a daemon thread. The
    parent holds the write end and never writes: the end comes when the parent closes it or
    dies, a crash or SIGKILL included (the kernel closes a dead process's pipes)."""
    source = stream if stream is not None else sys.stdin.buffer

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while source.read(4096):
                pass
        on_eof()

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _interrupt_self() -> None:
    """Ctrl+C to this process: uvicorn's handler shuts the server down cleanly."""
    os.kill(os.getpid(), signal.SIGINT)


def serve(plan: ServePlan, max_requests: int | None = None, with_parent: bool = False) -> None:
    """Run the server until Ctrl+C (or after ``max_requests`` requests, for scripts);
    ``with_parent``: also until stdin ends (`exit_with_parent`)."""
    if plan.backend == "vllm":
        cmd = vllm_command(plan)
        if not with_parent:
            os.execvp(cmd[0], cmd)
        # vLLM as a child, so something is left to watch stdin and stop it
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        exit_with_parent(lambda: child.send_signal(signal.SIGINT))
        try:
            raise SystemExit(child.wait())
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            raise SystemExit(child.wait()) from None
    if with_parent:
        exit_with_parent(_interrupt_self)
    import uvicorn
    from tunetui.runner.infer.serve_app import build_app

    app = build_app(load_served(plan), plan.limits, plan.api_key)
    config = uvicorn.Config(
        app,
        host=plan.host,
        port=plan.port,
        log_level="warning",
        limit_max_requests=max_requests,
        limit_concurrency=plan.limits.max_concurrent * 4,
    )
    uvicorn.Server(config).run()
