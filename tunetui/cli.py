"""The `tunetui` command line.

Every command lives in its own module under `tunetui.commands` and is imported only when
that command runs, so `tunetui --help` and `tunetui plan` never pay for torch, transformers
or textual (tests/cli/test_import_hygiene.py enforces this). Each command module exposes
``app: typer.Typer``; a one-command app becomes a command, a multi-command app a group.

Errors: a `UserError` anywhere becomes one line on stderr and exit code 2. Any other
exception is a bug: one line pointing at ``--debug``, which re-raises with the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
import typer.core
import typer.main

from tunetui import __version__

# name -> (module under tunetui.commands, one-line help shown by `tunetui --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("probe", "Show GPUs (NVML), CPU, RAM and disk."),
    "plan": ("plan", "Estimate peak VRAM for a job and recommend settings that fit."),
    "gpus": ("gpus", "List the GPU catalog used for planning (--gpu NAME)."),
    "models": ("models", "List the model catalog used for planning (--model ID)."),
    "init": ("init", "Write a recipe: the wizard, or --headless from flags."),
    "import-lf": ("import_lf", "Convert a LLaMA-Factory training YAML into a tunetui recipe."),
    "doctor": ("doctor", "Check a recipe before training: versions, disk, EOS, lengths, memory."),
    "run": ("run", "Train a recipe in its own process and follow it."),
    "runs": ("runs", "List runs with their state, progress and final loss."),
    "attach": ("attach", "Follow a run again (dashboard or console)."),
    "stop": ("stop", "Ask a run to save a checkpoint and stop."),
    "export": ("export", "Merge an adapter (HF) or write GGUF + Ollama Modelfile, verified."),
    "chat": ("chat", "Chat with a model or a trained adapter."),
    "serve": ("serve", "Serve a model or run with an OpenAI-compatible API."),
    "eval": ("eval", "Evaluate a model or adapter: perplexity, BLEU, ROUGE."),
    "al": ("al", "Active learning: pick what to label next, retrain, measure."),
    "demo": ("demo", "The main job: LoRA on the embedded SmolLM2, before/after answers."),
}


def load_command(name: str) -> Any:
    """Import one command's module and turn its typer app into a click command."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    module = importlib.import_module(f"tunetui.commands.{entry[0]}")
    command = typer.main.get_command(module.app)
    command.name = name
    return command


class LazyGroup(typer.core.TyperGroup):
    """A click group whose subcommands are imported on first use.

    typer >= 0.29 bundles its own click (`typer._click`); nothing here imports `click`
    itself, which a light install may not even have.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return load_command(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # Static help text: listing commands must not import them.
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: Any, args: list[str]):  # type: ignore[override]
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            from tunetui.planner.errors import unknown

            raise unknown("command", name, COMMANDS, listing="tunetui --help")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=LazyGroup,
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    help="tunetui: know before you start whether a fine-tuning job fits your GPU, then run it.",
)


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """With no command, open the wizard in an interactive terminal."""
    if version:
        typer.echo(f"tunetui {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        if not sys.stdin.isatty() or not sys.stdout.isatty():
            typer.echo(ctx.get_help())
            raise typer.Exit(0)
        from tunetui.tui.app import run_app

        run_app()


# Commands answered without building typer's click command: typer 0.29 builds a pydantic
# TypeAdapter per option (~100-150 ms), which alone breaks `tunetui plan`'s startup budget
# (< 1/10 of `import torch`). Anything the fast parser is unsure of goes to typer.
FAST_COMMANDS = ("plan",)


def _fast_run(args: list[str]) -> bool:
    """Run a one-command module with argparse built from its typer signature.

    Returns False, having done nothing, whenever typer should handle the line instead: help,
    an unknown or malformed option, a positional argument, or a parameter kind this small
    parser does not model. So behaviour never differs, only the startup time.
    """
    if not args or args[0] not in FAST_COMMANDS or os.environ.get("TUNETUI_NO_FAST"):
        return False
    if any(a in ("--help", "-h") or a.startswith("--help=") for a in args[1:]):
        return False
    import argparse
    import inspect
    import typing

    from typer.models import OptionInfo

    module = importlib.import_module(f"tunetui.commands.{COMMANDS[args[0]][0]}")
    registered = getattr(module.app, "registered_commands", [])
    if len(registered) != 1 or getattr(module.app, "registered_callback", None):
        return False
    func = registered[0].callback
    hints = typing.get_type_hints(func)
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False, allow_abbrev=False)
    for name, param in inspect.signature(func).parameters.items():
        info, kind = param.default, hints.get(name)
        if not isinstance(info, OptionInfo) or info.default is ... or not info.param_decls:
            return False
        if kind is bool:
            for decl in info.param_decls:
                on, _, off = decl.partition("/")
                parser.add_argument(on, dest=name, action="store_const", const=True)
                if off:
                    parser.add_argument(off, dest=name, action="store_const", const=False)
            parser.set_defaults(**{name: info.default})
        elif kind in (int, float, str):
            parser.add_argument(*info.param_decls, dest=name, type=kind, default=info.default)
        else:
            return False
    try:
        parsed, rest = parser.parse_known_args(args[1:])
    except (argparse.ArgumentError, SystemExit):
        return False
    if rest:
        return False
    func(**vars(parsed))
    return True


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("TUNETUI_DEBUG", "") not in ("", "0")


def _usage_error(err: Exception) -> None:
    """A bad flag, a missing argument, a wrong type: one line, exit 2 (help: exit 0)."""
    if type(err).__name__ == "NoArgsIsHelpError":  # a group called bare: show its help
        print(err.ctx.get_help() if getattr(err, "ctx", None) else str(err))
        sys.exit(0)
    message = err.format_message() if hasattr(err, "format_message") else str(err)
    ctx = getattr(err, "ctx", None)
    where = ctx.command_path if ctx is not None else "tunetui"
    print(f"error: {message.rstrip('.')}. See `{where} --help`.", file=sys.stderr)
    sys.exit(getattr(err, "exit_code", 2) or 2)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the CLI with tunetui's error conventions."""
    from tunetui.planner.errors import UserError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    if debug and "--debug" in args:
        # Accept --debug anywhere on the line, not only before the command.
        args.remove("--debug")
    try:
        if _fast_run(args):
            sys.exit(0)
        command = typer.main.get_command(app)
        code = command.main(args=args, prog_name="tunetui", standalone_mode=False)
    except UserError as err:
        if debug:
            raise
        print(f"error: {err.line()}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except typer.Abort:
        print("aborted.", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as err:  # click's usage errors, as typer bundles them
        _usage_error(err)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # a bug, not a user error
        if debug:
            raise
        print(
            f"internal error: {type(err).__name__}: {err}. Rerun with --debug for the "
            "traceback, and please report it.",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
