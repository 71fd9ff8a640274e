"""Two commands racing for one run folder: exactly one wins, the other gets one line.

A state check ("is the run active?") cannot close the window between checking and spawning;
the run locks (`runner.runlock`) do. Each race is repeated, released by a barrier so both
sides reach the launcher together, because a race that passes once proves little.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner import launcher, runlock
from tunetui.runner.runstate import read_state

REPEATS = 12


def _race(action: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run `action` in two threads released together; (results, errors)."""
    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            results.append(action())
        except BaseException as err:  # noqa: BLE001 - the test inspects every outcome
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_two_resumes_at_once_start_one_worker(fake_runs, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FAIL_AT", "2")  # every attempt fails at step 2: resumable again
    recipe = fake_runs("twice", max_steps=5, save_steps=1)
    first = launcher.start_run(recipe)
    assert first.process.wait(timeout=30) == 1
    for _ in range(REPEATS):
        assert read_state(first.run_dir).state == "failed"
        launched, refused = _race(lambda: launcher.resume_run(first.run_dir))
        assert len(launched) == 1 and len(refused) == 1, refused
        assert isinstance(refused[0], UserError), refused[0]
        assert "is in use by another tunetui process" in refused[0].problem or (
            "still" in refused[0].problem
        )
        assert launched[0].process.wait(timeout=30) == 1
        assert not runlock.is_held(first.run_dir)  # the lock ended with the worker


def test_two_runs_with_one_name_build_one_folder(fake_runs) -> None:
    recipe = fake_runs("same", max_steps=2)
    for i in range(REPEATS):
        name = f"same-{i}"
        launched, refused = _race(lambda name=name: launcher.start_run(recipe, name=name))
        assert len(launched) == 1 and len(refused) == 1, refused
        assert isinstance(refused[0], UserError), refused[0]
        assert "already exists" in refused[0].problem or "in use" in refused[0].problem
        assert launched[0].process.wait(timeout=30) == 0
        runs = Path(recipe).parent / "runs"
        assert sorted(p.name for p in runs.iterdir() if p.name.startswith(name)) == [name]


def test_a_run_folder_that_cannot_be_written_is_refused_first(
    fake_runs, tmp_path, monkeypatch
) -> None:
    recipe = fake_runs("nowhere")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot be created: .*a-file is a file"):
        launcher.start_run(recipe, output=blocker / "run")
    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o555)
    # Tests run as root on CI, for whom nothing is read-only: ask os.access as a user would.
    from tunetui.runner import userfiles

    real_access = userfiles.os.access
    monkeypatch.setattr(
        userfiles.os, "access", lambda p, mode: Path(p) != readonly and real_access(p, mode)
    )
    with pytest.raises(UserError, match=r"readonly/run is not writable \(.*read-only"):
        launcher.start_run(recipe, output=readonly / "run")
    assert not (readonly / "run").exists() and not (tmp_path / "runs" / "nowhere").exists()
