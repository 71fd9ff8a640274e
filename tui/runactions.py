"""What a finished run offers, as text and command lines (no Textual here).

The actions screen (`tui.screens.run_actions`) chats with a run, compares it with its base,
exports it and serves it. Each action is a console command too, and the screen prints it:
the line a user can paste into a terminal, on a server without the TUI, or into a script.
These helpers build those lines (and the child processes' arguments) so both are tested
without a terminal and always agree.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.rundir import find_named_run, folder_text

# The GGUF types `tunetui export --gguf --quant` accepts (runner.infer.gguf.QUANTS; a test
# checks they agree: the TUI does not import the inference package).
GGUF_QUANTS = ("f16", "q8_0", "q4_k_m")


@dataclass(frozen=True)
class ExportChoice:
    """One row of the export menu: an HF folder, or a GGUF (with its Ollama Modelfile)."""

    key: str  # "hf" or a GGUF quant type
    label: str

    def args(self, run: str, overwrite: bool = False) -> list[str]:
        """``tunetui`` arguments for this export of ``run``."""
        args = ["export", run]
        if self.key != "hf":
            args += ["--gguf", "--quant", self.key]
        return [*args, "--overwrite"] if overwrite else args


EXPORTS = [
    ExportChoice("hf", "HF folder (adapter merged, safetensors)"),
    *(ExportChoice(q, f"GGUF {q} + Ollama Modelfile") for q in GGUF_QUANTS),
]


def run_word(run_dir: Path) -> str:
    """How a command line names the run: its name when that finds this very folder (the
    short form users type), else its folder."""
    try:
        found = find_named_run(run_dir.name)
    except UserError:  # several folders hold a run of this name
        found = None
    if found is not None and found.resolve() == run_dir.resolve():
        return run_dir.name
    return folder_text(run_dir)


def command_text(args: list[str]) -> str:
    """``tunetui export demo --gguf --quant q8_0``, quoted for a shell."""
    return shlex.join(["tunetui", *args])


def chat_command(run: str) -> str:
    return command_text(["chat", run])


def compare_commands(run: str, base: str, prompt: str) -> list[str]:
    """The same prompt to the base model and to the run, one line each."""
    prompt = prompt or "PROMPT"
    return [command_text(["chat", m, "--prompt", prompt]) for m in (base, run)]


def serve_args(run: str, port: int) -> list[str]:
    return ["serve", run, "--port", str(port)]


def parse_port(text: str) -> int:
    """The port field's text as a port; one line when it is not one."""
    try:
        port = int(text.strip())
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise UserError(f"port {text.strip()!r} is not a port number", "use 1-65535, e.g. 8000")
    return port
