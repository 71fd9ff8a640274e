"""Run directories: where a run lives, how it is named, and how its files are written.

A run owns one directory (``runs/<name>/`` by default)::

    recipe.yaml   the resolved recipe (every default filled in): the record of what ran
    plan.json     the planner's estimate the run was launched with
    events.jsonl  the event stream (written by the worker only)
    train.log     the worker's raw stdout/stderr
    run.json      pid, pgid, host, start time, argv, resume count (written by the launcher)
    STOP          present while a stop has been requested
    checkpoints/  checkpoint-<step>/
    adapter/ | model/

The runs root is ``./runs`` or ``$TUNETUI_RUNS``. This module is stdlib-only (plus the
shared errors) so the CLI and the TUI can list runs without paying for the training stack.

Every run made here is also recorded in a small index in the user's state directory
(``$TUNETUI_STATE_DIR``, else ``$XDG_STATE_HOME/tunetui``, else ``~/.local/state/tunetui``),
so ``runs``, ``attach``, ``stop``, ``export``, ``chat`` and ``eval`` find a run by name
from any folder, not only from the one it was started in. Entries whose folder is gone
are dropped whenever the index is read.

A new run directory is assembled under a hidden temporary name next to its final place and
renamed into place once every launcher file is written, so a bad recipe or a crash while
writing never leaves a half-made run behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError, unknown

RUNS_ENV = "TUNETUI_RUNS"
STATE_ENV = "TUNETUI_STATE_DIR"  # overrides the XDG state directory (tests, sandboxes)
INDEX_FILE = "runs.json"
RECIPE_FILE = "recipe.yaml"
PLAN_FILE = "plan.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"
RUN_FILE = "run.json"
STOP_FILE = "STOP"
CHECKPOINTS_DIR = "checkpoints"
# Files that mark a directory as a run (any one is enough: a run that crashed before its
# first event still has its recipe).
_MARKERS = (RUN_FILE, RECIPE_FILE, EVENTS_FILE)


def runs_root() -> Path:
    """The folder holding named runs: ``$TUNETUI_RUNS`` or ``./runs``."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def is_run_dir(path: Path) -> bool:
    """True when ``path`` looks like a run directory (has a run.json, recipe or events)."""
    return path.is_dir() and any((path / marker).exists() for marker in _MARKERS)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write a text file so readers see either the old content or the new, never a part.

    The content goes to a temporary file in the same folder, is fsynced, then renamed over
    the target (rename is atomic within one filesystem).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the user's usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or ``{}`` when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def timestamp(now: float | None = None) -> str:
    """A sortable, filename-safe local timestamp used to make run names unique."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now))


def unique_run_path(root: Path, name: str, now: float | None = None) -> Path:
    """``root/name`` if free, else ``root/name-<timestamp>`` (then ``-2``, ``-3`` ...)."""
    path = root / name
    if not path.exists():
        return path
    base = f"{name}-{timestamp(now)}"
    path = root / base
    n = 2
    while path.exists():
        path = root / f"{base}-{n}"
        n += 1
    return path


def choose_run_path(
    recipe_name: str,
    *,
    name: str | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Where a new run goes, following the naming rules.

    ``output`` (``--output`` or the recipe's ``output_dir``) is used as given; ``name``
    (``--name``) goes under the runs root; both refuse an existing, non-empty folder unless
    ``overwrite``. With neither, the recipe's name is used and a timestamp suffix keeps
    earlier runs of the same recipe.
    """
    if output is not None:
        path = Path(output)
        what = f"output folder {path}"
    elif name is not None:
        _check_name(name)
        path = runs_root() / name
        what = f"run '{name}'"
    else:
        return unique_run_path(runs_root(), recipe_name)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} exists and is not a folder", "Choose another --output path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UserError(
            f"{what} already exists",
            "Pass --overwrite to replace it, or choose another --name/--output",
        )
    return path


def _check_name(name: str) -> None:
    """Run names become folder names: no separators, no hidden or relative names."""
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise UserError(
            f"invalid run name '{name}'",
            "Use letters, digits, '.', '_' or '-' (no slashes), or --output DIR for a path",
        )


@contextlib.contextmanager
def staged_run_dir(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a run directory under a temporary name, then move it to ``final``.

    Yields the staging folder to write into. On success it replaces ``final`` (the old
    folder, if ``overwrite``, is removed only after the new one is complete); on any
    exception the staging folder is deleted and ``final`` is untouched.
    """
    final = final.absolute()
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".new", dir=final.parent))
    try:
        os.chmod(stage, 0o777 & ~_umask())
        yield stage
        if final.exists():
            if not overwrite and (not final.is_dir() or any(final.iterdir())):
                raise UserError(f"{final} appeared while the run was being prepared", "Retry")
            trash = final.parent / f".{final.name}.{os.getpid()}.old"
            os.replace(final, trash)
            os.replace(stage, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    register_run(final)


def list_run_dirs(root: Path | None = None) -> list[Path]:
    """Run directories directly under the runs root, oldest first (by creation of run.json)."""
    root = runs_root() if root is None else root
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if not p.name.startswith(".") and is_run_dir(p)]
    return sorted(runs, key=_started_key)


def _started_key(path: Path) -> tuple[float, str]:
    info = read_json(path / RUN_FILE)
    started = info.get("first_started") or info.get("started")
    if not isinstance(started, (int, float)):
        try:
            started = path.stat().st_mtime
        except OSError:
            started = 0.0
    return float(started), path.name


def _latest_attempt_key(path: Path) -> tuple[float, float, str]:
    info = read_json(path / RUN_FILE)
    started = info.get("started")
    first = _started_key(path)
    latest = float(started) if isinstance(started, (int, float)) else first[0]
    return latest, first[0], path.name


def find_run(arg: str | None) -> Path:
    """Resolve ``RUN`` as given on the command line: a path, a name, or None (latest run).

    A name is looked up under the runs root first, then in the index of runs started
    anywhere (`indexed_runs`). Unknown names raise a `UserError` with a close-match
    suggestion; a name two indexed folders share asks for the folder.
    """
    if arg is None or arg == "":
        runs = all_run_dirs()
        if not runs:
            raise UserError(
                f"no runs in {runs_root()}",
                "Start one with `tunetui run RECIPE.yaml`, or set $TUNETUI_RUNS",
            )
        # The latest *attempt*: after `run --resume` of an older run, that is the one the
        # user has just started and wants to follow.
        return max(runs, key=_latest_attempt_key)
    path = Path(arg).expanduser()
    if is_run_dir(path):
        return path
    named = find_named_run(arg)
    if named is not None:
        return named
    if path.exists():
        raise UserError(
            f"{path} is not a run folder (no run.json, recipe.yaml or events.jsonl)",
            "Pass a run name from `tunetui runs` or a run folder",
        )
    runs = all_run_dirs()
    prefixed = [p for p in runs if p.name.startswith(arg)]
    if len(prefixed) == 1:  # timestamped names are long: a unique prefix is enough
        return prefixed[0]
    raise unknown("run", arg, sorted({p.name for p in runs}), listing="tunetui runs")


def find_named_run(name: str) -> Path | None:
    """The run called `name`: under the runs root, else the one indexed run of that name
    (None when there is none). `UserError` when several indexed folders hold one."""
    if not name or os.sep in name or name.startswith("."):
        return None
    local = runs_root() / name
    if is_run_dir(local):
        return local
    found = [p for p in indexed_runs() if p.name == name]
    if len(found) > 1:
        raise UserError(
            f"run '{name}' is in {len(found)} folders: {', '.join(str(p.parent) for p in found)}",
            f"Pass the run's folder instead of its name, e.g. {found[-1]}",
        )
    return found[0] if found else None


# --------------------------------------------------------------------------- the index
def state_dir() -> Path:
    """Where tunetui keeps per-user state: ``$TUNETUI_STATE_DIR``, else the XDG state
    directory (``$XDG_STATE_HOME/tunetui``, default ``~/.local/state/tunetui``)."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "tunetui"


@contextlib.contextmanager
def _index_locked() -> Iterator[Path]:
    """The index file, held under an exclusive lock: two runs started at once must not
    each rewrite the index without the other's entry."""
    path = state_dir() / INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path


def _read_index(path: Path) -> list[Path]:
    entries = read_json(path).get("runs")
    return [Path(p) for p in entries if isinstance(p, str)] if isinstance(entries, list) else []


def _update_index(add: Path | None = None) -> list[Path]:
    """Rewrite the index without runs whose folder is gone (plus `add`); its runs.

    Best effort: a read-only or missing home must not stop a run from starting or being
    found by its folder, so OS errors leave the index as it was.
    """
    try:
        with _index_locked() as path:
            before = _read_index(path)
            runs = [p for p in before if p != add and is_run_dir(p)]
            if add is not None:
                runs.append(add)
            if runs != before:
                write_json(path, {"runs": [str(p) for p in runs]})
            return runs
    except OSError:
        return [p for p in _read_index(state_dir() / INDEX_FILE) if is_run_dir(p)]


def register_run(run_dir: Path) -> None:
    """Record a new run's folder in the index (`staged_run_dir` does, for every run)."""
    _update_index(Path(run_dir).absolute())


def indexed_runs() -> list[Path]:
    """The runs of the index whose folders still exist, oldest entry first."""
    return _update_index()


def folder_text(folder: Path) -> str:
    """Where a run lives, short: relative to here when below it, else with ``~``."""
    folder = folder.absolute()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        if folder.is_relative_to(base):
            rel = folder.relative_to(base).as_posix()
            return prefix + rel if rel != "." else (prefix or ".")
    return str(folder)


def all_run_dirs() -> list[Path]:
    """The runs under the runs root and the indexed ones (each folder once), oldest first."""
    seen: dict[Path, Path] = {}
    for path in [*list_run_dirs(), *indexed_runs()]:
        seen.setdefault(path.resolve(), path)
    return sorted(seen.values(), key=_started_key)


def find_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete ``checkpoints/checkpoint-<step>`` (``trainer_state.json`` is
    written last, so a checkpoint cut short by ``kill -9`` is skipped)."""
    found = []
    for path in (Path(run_dir) / CHECKPOINTS_DIR).glob("checkpoint-*"):
        step = path.name.rsplit("-", 1)[-1]
        if step.isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(step), path))
    return max(found)[1] if found else None


def plan_gib(run_dir: Path) -> float | None:
    """The memory the run was planned to need (GiB), from its plan.json; None without one.

    The one reader of plan.json's estimate: the worker's ``end`` event, the console's
    "peak memory vs plan" and the dashboard's device panels all compare against it.
    `planner.plan.build_plan` writes ``{"estimate": {"total_gib": ...}}``;
    ``{"available": false}`` (no estimate) and a missing file give None.
    """
    plan = read_json(Path(run_dir) / PLAN_FILE)
    estimate = plan.get("estimate")
    for holder in (estimate if isinstance(estimate, dict) else {}, plan):
        for key in ("total_gib", "reserved_gib"):
            value = holder.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def replace_folder(tmp: Path, final: Path) -> Path:
    """Move the finished folder `tmp` to `final`, replacing an old `final` only at the end
    (readers see the old output or the new one, never half of one; a failed move puts the
    old one back). The new folder and its files get the user's usual modes: temp folders
    are created 0700, and an exported model must be as readable as any HF save."""
    for path in [tmp, *tmp.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def folder_bytes(folder: Path) -> int:
    """The size of every file under `folder` (an export, a checkpoint)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
