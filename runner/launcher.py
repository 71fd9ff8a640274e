"""Start, resume and stop training processes that outlive the terminal that started them.

`tunetui run` is used over SSH. If the training process were a child in the terminal's
process group, a dropped connection (SIGHUP to that group) or a closed dashboard would kill
hours of training. So the worker is spawned in its **own session**
(``start_new_session=True``), with stdin from /dev/null and stdout/stderr appended to
``train.log``; the launcher only records its pid in ``run.json`` and may go away at once
(``--detach``) or stay to follow the events file.

Order of work, so that bad input leaves nothing behind: load and validate the recipe, then
its data (both raise `UserError`, exit 2), then assemble the run folder under a temporary
name (resolved ``recipe.yaml``, ``plan.json``), rename it into place, spawn the worker.

This module imports no torch: the worker is a separate interpreter
(``python -m tunetui.runner.train.worker RUN_DIR [--resume]``). ``$TUNETUI_WORKER`` replaces
that command (tests use a fake worker; it is also handy to wrap the worker, e.g. in
``nice``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from tunetui.planner.errors import UserError
from tunetui.planner.plan import build_plan
from tunetui.runner import allocator, distributed, runlock
from tunetui.runner.calibration import measurements
from tunetui.runner.data.validation import validate_data
from tunetui.runner.distributed import LaunchSpec
from tunetui.runner.events import EventTail
from tunetui.runner.flags import plan_request
from tunetui.runner.modelpath import EMBEDDED, check_model
from tunetui.runner.recipe import Recipe
from tunetui.runner.recipe_io import dump_recipe, load_recipe
from tunetui.runner.requirements import check_requirements
from tunetui.runner.rundir import (
    CHECKPOINTS_DIR,
    EVENTS_FILE,
    LOG_FILE,
    PLAN_FILE,
    RECIPE_FILE,
    RUN_FILE,
    STOP_FILE,
    choose_run_path,
    read_json,
    runs_root,
    staged_run_dir,
    write_atomic,
    write_json,
)
from tunetui.runner.runstate import RunState, current_host, drain, read_state
from tunetui.runner.userfiles import check_writable

WORKER_ENV = "TUNETUI_WORKER"
WORKER_MODULE = "tunetui.runner.train.worker"


@dataclass
class Launch:
    """A worker just started: where it runs, its process, and a tail positioned after the
    events that existed before it started (so a follower of a resumed run does not take the
    previous attempt's ``stopped`` for the end of this one)."""

    run_dir: Path
    process: subprocess.Popen[bytes]
    tail: EventTail
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False

    @property
    def name(self) -> str:
        return self.run_dir.name


# --------------------------------------------------------------------------- recipe + data


def load_checked_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Load a recipe, check its model and data; any problem is a `UserError` (exit 2)."""
    recipe = load_recipe(Path(path))
    check_model(recipe.model.name_or_path)
    check_requirements(recipe)
    validate_data(recipe)
    return recipe


def absolute_paths(recipe: Recipe, cwd: Path | None = None) -> Recipe:
    """The recipe with its relative model and data paths made absolute.

    They are found relative to the folder `tunetui run` was started in; the run's
    recipe.yaml is a record that must train the same data when it is run again (or
    resumed) from anywhere else. Names that are not paths here (embedded models, datasets
    from dataset_info.json) are left as they are.
    """
    base = Path.cwd() if cwd is None else cwd

    def absolute(value: str, named: bool = False) -> str:
        # A bare word may be a dataset_info.json name even if a folder has that name here;
        # only a file, or something written as a path, is taken for a path.
        path = Path(value).expanduser()
        if path.is_absolute() or not (base / path).exists():
            return value
        if named and "/" not in value and not (base / path).is_file():
            return value
        return str((base / path).resolve())

    datasets = [absolute(d, named=True) for d in recipe.data.datasets]
    data_update: dict[str, Any] = {"datasets": datasets}
    if recipe.data.dataset_dir:
        data_update["dataset_dir"] = absolute(recipe.data.dataset_dir)
    model_path = recipe.model.name_or_path
    if model_path.strip().lower() not in EMBEDDED:
        model_path = absolute(model_path)
    return recipe.model_copy(
        update={
            "data": recipe.data.model_copy(update=data_update),
            "model": recipe.model.model_copy(update={"name_or_path": model_path}),
        }
    )


def make_plan(recipe: Recipe) -> dict[str, Any]:
    """The planner's estimate for exactly this recipe on this machine, for plan.json.

    Corrected by this machine's measurements of similar jobs, as `tunetui plan` is (the
    raw figure stays in the plan's ``calibration`` object, so nothing compounds).
    The plan is advice, not a gate: when the planner cannot estimate (a model it does not
    know, a planner bug) the run still starts and plan.json says why.
    """
    try:
        return build_plan(**plan_request(recipe), calibration=measurements())
    except UserError as err:
        return {"available": False, "reason": err.line()}
    except Exception as err:  # noqa: BLE001 - advice only; never block a run on it
        return {"available": False, "reason": f"{type(err).__name__}: {err}"}


def plan_summary(plan: dict[str, Any]) -> str | None:
    """One line on whether the planner expects this run to fit, or None without a plan.

    ``tunetui run`` prints it before following, so an out-of-memory is expected, not a
    surprise an hour in. It is a warning, never a refusal: estimates can be wrong.
    """
    est, hw = plan.get("estimate"), plan.get("hardware")
    if plan.get("available") is False and plan.get("reason"):
        # Silence here would read as "fits"; say that there is no estimate, and why.
        return f"plan: no memory estimate for this recipe ({plan['reason']})"
    if not isinstance(est, dict) or not isinstance(hw, dict):
        return None
    total, free = est.get("total_gib"), hw.get("memory_free_gib")
    if not isinstance(total, (int, float)) or not isinstance(free, (int, float)):
        return None
    where = f"{hw.get('name') or hw.get('device', 'device')} ({free:.1f} GiB free)"
    processes = hw.get("processes")
    if isinstance(processes, int) and processes > 1:  # CPU ranks sharing this machine's RAM
        total *= processes
        where = f"{where}, {processes} processes"
    rec = plan.get("recommendation") if isinstance(plan.get("recommendation"), dict) else {}
    if total > free or rec.get("fits") is False:
        hint = plan.get("suggestion") or "see `tunetui plan`"
        return f"warning: planned peak {total:.1f} GiB does not fit {where}; {hint}"
    return f"plan: peak ~{total:.1f} GiB on {where}"


# --------------------------------------------------------------------------- spawning


def worker_command(
    run_dir: Path, resume: bool = False, spec: LaunchSpec | None = None
) -> list[str]:
    """The worker's argv: ``$TUNETUI_WORKER`` (shell-split), accelerate's launch of every
    rank (`spec`, a ``distributed`` recipe) or ``python -m ...worker``."""
    override = os.environ.get(WORKER_ENV, "").strip()
    if not override and spec is not None:
        return list(spec.argv)
    base = shlex.split(override) if override else [sys.executable, "-m", WORKER_MODULE]
    return [*base, str(run_dir), *(["--resume"] if resume else [])]


def distributed_spec(
    recipe: Recipe, run_dir: Path, resume: bool, force: bool = False
) -> LaunchSpec | None:
    """The accelerate launch of a ``distributed`` recipe (None for one process), after its
    pre-flight (processes vs GPUs, port, deepspeed, NCCL all-reduce unless `force`); the
    config files are written into the run dir, where they document the run."""
    if not distributed.is_distributed(recipe):
        return None
    spec = distributed.launch_spec(recipe, run_dir, resume=resume)
    if not force:
        distributed.check_collective(spec)
    return spec


def _spawn(
    run_dir: Path, resume: bool, cwd: Path, lock: int, spec: LaunchSpec | None = None
) -> subprocess.Popen[bytes]:
    """Start the worker detached from our terminal and session; output to train.log.

    `lock` (the run folder's lock, `runlock.hold`) is handed to the worker, which keeps it
    for its life; our copy is closed, so the lock ends with the worker. With `spec` the
    worker is accelerate's launcher, which holds the lock while its ranks run."""
    argv = worker_command(run_dir, resume, spec)
    device = (read_json(run_dir / PLAN_FILE).get("hardware") or {}).get("device")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        **(spec.env if spec else {}),
        **allocator.worker_env(device),  # CPU: mimalloc; GPU: expandable segments
    }
    with open(run_dir / LOG_FILE, "ab") as log:
        if resume:
            log.write(f"\n===== tunetui: resuming at {time.ctime()} =====\n".encode())
            log.flush()
        try:
            return subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                pass_fds=(lock,),
                start_new_session=True,
            )
        except OSError as err:
            raise UserError(
                f"could not start the worker ({shlex.join(argv)}): {err}",
                f"Check ${WORKER_ENV} and the Python environment",
            ) from None
        finally:
            os.close(lock)


def _record(run_dir: Path, proc: subprocess.Popen[bytes], cwd: Path, resume: bool) -> None:
    """Write run.json: who runs the job, where, since when (atomic; merges earlier data)."""
    info = read_json(run_dir / RUN_FILE)
    now = time.time()
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        create_time = None
    try:
        pgid = os.getpgid(proc.pid)
    except OSError:
        pgid = proc.pid
    info.update(
        {
            "run_dir": str(run_dir),
            "pid": proc.pid,
            "pgid": pgid,
            "pid_create_time": create_time,
            "host": current_host(),
            "started": now,
            "first_started": info.get("first_started", now),
            "argv": list(sys.argv),
            "worker_argv": [str(a) for a in proc.args],  # type: ignore[union-attr]
            "cwd": str(cwd),
            "resumed": int(info.get("resumed", 0)) + (1 if resume else 0),
        }
    )
    write_json(run_dir / RUN_FILE, info)


def _tail_after_existing(run_dir: Path) -> tuple[EventTail, list[dict[str, Any]]]:
    tail = EventTail(run_dir / EVENTS_FILE)
    return tail, drain(tail)


def _prepare(
    recipe_path: str | os.PathLike[str],
    name: str | None,
    output: str | os.PathLike[str] | None,
    overwrite: bool,
) -> tuple[Path, LaunchSpec | None, int]:
    """Validate and build the run folder: (its path, the launch spec of a distributed
    recipe, the run lock's descriptor)."""
    recipe = load_checked_recipe(recipe_path)
    if output is None and name is None and recipe.output_dir:
        output = recipe.output_dir
    parent = Path(output).absolute().parent if output is not None else runs_root().absolute()
    check_writable(Path(output) if output is not None else parent, "run folder")
    plan = make_plan(recipe)
    choose_run_path(recipe.name, name=name, output=output, overwrite=overwrite)  # bad names: now
    with runlock.creating(parent):  # two `run --name X` at once: one builds X, one is told
        final = choose_run_path(recipe.name, name=name, output=output, overwrite=overwrite)
        if final.exists():
            _refuse_if_active(final, "overwrite")
        final = final.absolute()
        spec = distributed_spec(recipe, final, resume=False, force=True)  # before any file
        resolved = absolute_paths(recipe).model_copy(update={"output_dir": str(final)})
        with staged_run_dir(final, overwrite=overwrite) as stage:
            write_atomic(stage / RECIPE_FILE, dump_recipe(resolved))
            write_json(stage / PLAN_FILE, plan)
            (stage / CHECKPOINTS_DIR).mkdir()
            (stage / EVENTS_FILE).touch()
            write_json(stage / RUN_FILE, {"run_dir": str(final), "host": current_host()})
            if spec is not None:
                distributed.write_files(spec, stage)
        return final, spec, runlock.hold(final, "start it")


def prepare_launch(
    recipe_path: str | os.PathLike[str],
    *,
    name: str | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> tuple[Path, LaunchSpec | None]:
    """``run --print-launch``: the run folder, ready for a launch by hand (SLURM, a second
    node), and the launch spec that would start it; nothing is started."""
    final, spec, lock = _prepare(recipe_path, name, output, overwrite)
    os.close(lock)
    return final, spec


def start_run(
    recipe_path: str | os.PathLike[str],
    *,
    name: str | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    force: bool = False,
) -> Launch:
    """Validate, create the run folder, spawn the worker: `tunetui run RECIPE` (`force`
    skips the NCCL pre-flight of a distributed recipe)."""
    final, spec, lock = _prepare(recipe_path, name, output, overwrite)
    cwd = Path.cwd()
    tail, history = _tail_after_existing(final)
    try:
        if spec is not None and not force:
            try:
                distributed.check_collective(spec)
            except UserError:
                os.close(lock)  # `_spawn` closes it otherwise
                raise
        proc = _spawn(final, resume=False, cwd=cwd, lock=lock, spec=spec)
    except UserError:
        shutil.rmtree(final, ignore_errors=True)  # a run that never started is no run
        raise
    _record(final, proc, cwd, resume=False)
    return Launch(final, proc, tail, history)


def resume_run(run_dir: Path, force: bool = False) -> Launch:
    """Continue a stopped, failed or crashed run from its newest checkpoint."""
    run_dir = Path(run_dir).absolute()
    _refuse_if_active(run_dir, "resume")  # the clearest message for the common case
    lock = runlock.hold(run_dir, "resume it")  # two resumes at once: the second is refused
    try:
        cwd, recipe = _resumable(run_dir)
        spec = distributed_spec(recipe, run_dir, resume=True, force=force)
        if spec is not None:
            distributed.write_files(spec, run_dir)  # this attempt's port
    except BaseException:
        os.close(lock)
        raise
    tail, history = _tail_after_existing(run_dir)
    proc = _spawn(run_dir, resume=True, cwd=cwd, lock=lock, spec=spec)
    _record(run_dir, proc, cwd, resume=True)
    return Launch(run_dir, proc, tail, history, resumed=True)


def _resumable(run_dir: Path) -> tuple[Path, Recipe]:
    """Check that `run_dir` can be resumed (UserError if not); return the folder its
    worker runs in (the first attempt's, so relative paths mean the same) and its recipe."""
    state = _refuse_if_active(run_dir, "resume")
    if state.state == "finished":
        raise UserError(
            f"run '{state.name}' already finished",
            f"Nothing to resume; start a new run with `tunetui run {run_dir / RECIPE_FILE}`",
        )
    if state.state == "unknown":
        raise UserError(f"run '{state.name}' was started on host {state.host}", "Resume it there")
    recipe = load_checked_recipe(run_dir / RECIPE_FILE)  # the worker reads it again
    with contextlib.suppress(FileNotFoundError):
        (run_dir / STOP_FILE).unlink()  # a stale STOP would stop the new attempt at once
    info = read_json(run_dir / RUN_FILE)
    cwd = Path(info["cwd"]) if isinstance(info.get("cwd"), str) else Path.cwd()
    return (cwd if cwd.is_dir() else Path.cwd()), recipe


def _refuse_if_active(run_dir: Path, action: str) -> RunState:
    state = read_state(run_dir)
    if state.active:
        raise UserError(
            f"run '{state.name}' is still {state.state} (pid {state.pid})",
            f"Stop it first with `tunetui stop {state.name}`, or wait for it to finish, "
            f"before you {action} it",
        )
    return state
