"""`tunetui run RECIPE` / `tunetui run --resume RUN`: train in a process of its own.

The worker runs in its own session, so closing the terminal, dropping SSH or quitting the
dashboard never stops training; `tunetui attach` follows it again, `tunetui stop` asks it
to save a checkpoint and stop. Heavy imports happen inside the worker, never here.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import subprocess

    from tunetui.runner.events import EventTail
    from tunetui.runner.launcher import Launch

app = typer.Typer(add_completion=False)


# Over 60 lines only through its typer option declarations; the body is short.
@app.command()
def run(
    target: str = typer.Argument(
        ...,
        metavar="RECIPE | RUN",
        help="Recipe YAML to train; with --resume, a run name or run folder.",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue RUN from its newest checkpoint (its own recipe)."
    ),
    headless: bool = typer.Option(
        False, "--headless", help="Console progress instead of the dashboard."
    ),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Start and return at once; follow later with attach."
    ),
    name: str | None = typer.Option(None, "--name", help="Run name under the runs folder."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Run folder path (instead of runs/<name>)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing run folder of that name."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Start even when `tunetui doctor`'s quick checks or the NCCL check find an error.",
    ),
    print_launch: bool = typer.Option(
        False,
        "--print-launch",
        help="Prepare the run folder and print the launch command and config files "
        "(SLURM, torchrun, a second node); start nothing.",
    ),
) -> None:
    """Train a recipe in its own process and follow it (survives SSH drops)."""
    if resume:
        if name or output or overwrite:
            from tunetui.planner.errors import UserError

            raise UserError(
                "--resume continues an existing run in place",
                "Drop --name/--output/--overwrite, or start a new run from a recipe",
            )
        launch = _resume(target, force)
    elif print_launch:
        _print_launch(target, name, output, overwrite)
        return
    else:
        _quick_doctor(target, force)
        launch = _start(target, name, output, overwrite, force)
    if detach:
        typer.echo(
            f"running in the background. Follow: tunetui attach {launch.name} · "
            f"stop: tunetui stop {launch.name}"
        )
        raise typer.Exit(0)
    code = watch(
        launch.run_dir,
        headless=headless,
        tail=launch.tail,
        history=launch.history,
        process=launch.process,
    )
    raise typer.Exit(code)


def _resume(target: str, force: bool) -> Launch:
    """Start the next attempt of run ``target`` and say where it continues from."""
    from tunetui.runner import launcher
    from tunetui.runner.rundir import find_checkpoint, find_run

    run_dir = find_run(target)
    had_checkpoint = find_checkpoint(run_dir)
    launch = launcher.resume_run(run_dir, force=force)
    where = had_checkpoint.name if had_checkpoint else "the start (no checkpoint yet)"
    typer.echo(f"resuming {launch.name} from {where} (pid {launch.process.pid})")
    return launch


def _quick_doctor(target: str, force: bool) -> None:
    """`tunetui doctor`'s cheap checks (no tokenizing): refuse on an error unless --force."""
    from tunetui.planner.errors import UserError
    from tunetui.runner.doctor import run_checks
    from tunetui.runner.recipe_io import load_recipe
    from tunetui.runner.rundir import runs_root

    if not Path(target).is_file():
        return  # a run's name: `_start` says what to do with it
    errors = [c for c in run_checks(load_recipe(target), runs_root(), cheap=True)
              if c.status == "error"]  # fmt: skip
    for check in errors:
        typer.echo(check.line(), err=True)
    if errors and not force:
        raise UserError(f"doctor: {errors[0].name}: {errors[0].message}",
                        f"Fix it (`tunetui doctor {target}`), or pass --force")  # fmt: skip


def _print_launch(target: str, name: str | None, output: Path | None, overwrite: bool) -> None:
    """The run folder prepared, and the command (plus config files) that starts it by hand."""
    from tunetui.runner import launcher
    from tunetui.runner.distributed import describe

    run_dir, spec = launcher.prepare_launch(target, name=name, output=output, overwrite=overwrite)
    if spec is None:
        typer.echo("# one process (distributed.strategy: none)")
        typer.echo(shlex.join(launcher.worker_command(run_dir)))
        return
    typer.echo(describe(spec, run_dir))


def _start(
    target: str, name: str | None, output: Path | None, overwrite: bool, force: bool
) -> Launch:
    """Start a new run of recipe ``target`` and print the planner's verdict on it."""
    from tunetui.runner import launcher
    from tunetui.runner.rundir import PLAN_FILE, find_named_run, read_json

    named = None if Path(target).is_file() else find_named_run(target)
    if named is not None:
        raise _run_not_recipe(target, named)
    launch = launcher.start_run(target, name=name, output=output, overwrite=overwrite, force=force)
    typer.echo(f"started {launch.name} in {launch.run_dir} (pid {launch.process.pid})")
    line = launcher.plan_summary(read_json(launch.run_dir / PLAN_FILE))
    if line:
        typer.echo(line)
    return launch


def watch(
    run_dir: Path,
    *,
    headless: bool = False,
    tail: EventTail | None = None,
    history: list[dict[str, Any]] | None = None,
    process: subprocess.Popen[bytes] | None = None,
) -> int:
    """Follow a run with the best view available; returns the exit code for `run`/`attach`.

    The TUI dashboard in an interactive terminal (unless ``headless``), else the console
    view (`runner.console.follow`). The choice is made here, in the CLI, because the runner
    must never import the TUI. Both end the same way: 1 when the run failed or crashed,
    0 when it finished, stopped, or is still running after the user left the dashboard.
    """
    if _interactive() and not headless:
        from tunetui.runner.runstate import read_state
        from tunetui.tui.dashboard import run_dashboard

        run_dashboard(run_dir)  # returns when the user quits or detaches
        return read_state(run_dir).exit_code
    from tunetui.runner.console import follow

    return follow(run_dir, tail=tail, history=history, process=process)


def _interactive() -> bool:
    """A person at a terminal (keys in, screen out): the dashboard can be shown."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _run_not_recipe(target: str, run_dir: Path) -> Exception:
    """`tunetui run NAME` with a run's name: point at what that run can do now.

    Suggesting `--resume` for a finished run would only lead to a second error.
    """
    from tunetui.planner.errors import UserError
    from tunetui.runner.rundir import RECIPE_FILE
    from tunetui.runner.runstate import read_state

    state = read_state(run_dir)
    problem = f"'{target}' is a run ({state.state}), not a recipe file"
    if state.active:
        fix = f"Follow it with `tunetui attach {target}`"
    elif state.state in ("stopped", "failed", "crashed"):
        fix = f"Resume it with `tunetui run --resume {target}`"
    else:
        fix = (
            f"See how it ended with `tunetui attach {target}`, or train its recipe again: "
            f"`tunetui run {run_dir / RECIPE_FILE}`"
        )
    return UserError(problem, fix)
