"""Locks that make "one worker per run folder" true even when two commands race.

Two `tunetui run --resume NAME` started together both saw a resumable run and both
spawned a worker on the same folder; two `tunetui run --name X` could both build X. A state
check cannot close that window: a lock can. Both locks are ``flock`` locks (advisory,
per open file, released by the kernel when the holder dies, so a crash never leaves one
behind):

- `creating(parent)` serialises run-folder creation under one runs root (held for the
  milliseconds between choosing the path and renaming the staged folder into place);
- `hold(run_dir)` takes ``RUN_DIR/.lock`` for the worker's whole life: the launcher takes
  it, hands the descriptor to the worker (``pass_fds``) and closes its own copy, so the lock
  lives exactly as long as the worker process does.

Light module: stdlib only (fcntl: POSIX, as the rest of the runner).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tunetui.planner.errors import UserError

LOCK_FILE = ".lock"
CREATE_LOCK = ".tunetui-create.lock"


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on `path`, or None if someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def creating(parent: Path) -> Iterator[None]:
    """Hold the run-creation lock of the runs folder `parent` (waits for another creator)."""
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent / CREATE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def hold(run_dir: Path, action: str) -> int:
    """Lock `run_dir` for one worker; UserError when another command or worker has it."""
    fd = _try_lock(Path(run_dir) / LOCK_FILE)
    if fd is None:
        name = Path(run_dir).name
        raise UserError(
            f"run '{name}' is in use by another tunetui process (its worker, or another "
            "command starting one)",
            f"Wait for it, or stop it with `tunetui stop {name}`, before you {action}",
        )
    return fd


def is_held(run_dir: Path) -> bool:
    """True while a worker (or a command starting one) holds `run_dir`'s lock."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return False
    fd = _try_lock(path)
    if fd is None:
        return True
    os.close(fd)
    return False
