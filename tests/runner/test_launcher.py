"""The launcher with a fake worker: detached runs survive their parent, stop, resume, crash.

The fake worker (tests/runner/fake_worker.py) speaks the real worker's protocol without
torch, so these tests take seconds. One end-to-end test with the real worker
(`tunetui.runner.train.worker`) on a tiny random-init model is at the bottom.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner import launcher, rundir, stopping
from tunetui.runner.events import read_events
from tunetui.runner.runstate import process_alive, read_state
from waiting import wait_until as wait_for


@pytest.fixture
def env(fake_runs) -> Path:
    """A recipe for the fake worker, runs under tmp_path/runs (conftest `fake_runs`)."""
    return fake_runs("fake", max_steps=20)


def finish(launch: launcher.Launch, timeout: float = 30.0) -> int:
    return launch.process.wait(timeout=timeout)


def kinds(run_dir: Path) -> list[str]:
    return [e["type"] for e in read_events(run_dir / "events.jsonl")]


def test_run_writes_run_dir_and_valid_events(env: Path) -> None:
    launch = launcher.start_run(env)
    assert finish(launch) == 0
    run = launch.run_dir
    assert run == (env.parent / "runs" / "fake").absolute()
    for name in ("recipe.yaml", "plan.json", "events.jsonl", "train.log", "run.json"):
        assert (run / name).is_file(), name
    assert (run / "adapter").is_dir() and (run / "checkpoints" / "checkpoint-20").is_dir()
    info = json.loads((run / "run.json").read_text())
    assert info["pid"] == launch.process.pid and info["resumed"] == 0
    assert {"pgid", "host", "started", "argv", "cwd", "pid_create_time"} <= set(info)
    # the resolved recipe has every default written out, and the run dir as output
    resolved = (run / "recipe.yaml").read_text()
    assert "learning_rate:" in resolved and f"output_dir: {run}" in resolved
    # every line of events.jsonl is one JSON object with the protocol header
    lines = (run / "events.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["v"] == 1 for line in lines)
    assert kinds(run)[0] == "start" and kinds(run)[-1] == "end"
    state = read_state(run)
    assert (state.state, state.step, state.total_steps) == ("finished", 20, 20)


def test_worker_runs_in_its_own_session(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.2")
    launch = launcher.start_run(env)
    try:
        assert os.getsid(launch.process.pid) == launch.process.pid != os.getsid(0)
        assert os.getpgid(launch.process.pid) == launch.process.pid
    finally:
        launch.process.kill()
        launch.process.wait()


def test_detached_run_survives_its_parent_and_sighup(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulate a dropped SSH session: the launcher's whole process group gets SIGHUP, then
    the launcher is killed outright; the worker must carry on and finish."""
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    parent = subprocess.Popen(
        [sys.executable, "-m", "tunetui", "run", str(env), "--headless"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # stands in for the terminal's session
    )
    run = tmp_path / "runs" / "fake"
    wait_for(lambda: "log" in kinds(run))
    info = rundir.read_json(run / "run.json")
    os.killpg(parent.pid, signal.SIGHUP)
    parent.wait(timeout=10)
    assert process_alive(info), "the worker died with its terminal"
    wait_for(lambda: read_state(run).state == "finished")
    assert kinds(run)[-1] == "end"


def test_stop_saves_checkpoint_and_resume_continues(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    launch = launcher.start_run(env)
    wait_for(lambda: "log" in kinds(launch.run_dir))
    assert read_state(launch.run_dir).state == "running"
    with pytest.raises(UserError, match="still running"):
        launcher.resume_run(launch.run_dir)
    result = stopping.request_stop(launch.run_dir, wait_s=10)
    assert result.signalled and result.stop_file and result.confirmed == "stopped"
    assert finish(launch) == 0
    stopped = read_events(launch.run_dir / "events.jsonl")[-1]
    assert stopped["type"] == "stopped" and stopped["step"] < 20
    assert read_state(launch.run_dir).state == "stopped"

    again = launcher.resume_run(launch.run_dir)
    assert not (launch.run_dir / "STOP").exists()  # a stale STOP would stop it at once
    assert again.history and again.history[-1]["type"] == "stopped"
    assert finish(again) == 0
    events = read_events(launch.run_dir / "events.jsonl")
    starts = [e for e in events if e["type"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"] == f"checkpoint-{stopped['step']}"
    steps = [e["step"] for e in events if e["type"] == "log"]
    assert steps == list(range(1, 21))  # the step count goes on where it stopped
    assert rundir.read_json(launch.run_dir / "run.json")["resumed"] == 1
    with pytest.raises(UserError, match="already finished"):
        launcher.resume_run(launch.run_dir)


def test_kill_9_is_crashed_and_resumable(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    launch = launcher.start_run(env)
    wait_for(lambda: "checkpoint" in kinds(launch.run_dir))
    os.kill(launch.process.pid, signal.SIGKILL)
    launch.process.wait()
    state = read_state(launch.run_dir)
    assert state.state == "crashed" and "train.log" in (state.message or "")
    assert stopping.request_stop(launch.run_dir).stop_file is False  # nothing to stop
    again = launcher.resume_run(launch.run_dir)
    assert finish(again) == 0
    assert read_state(launch.run_dir).state == "finished"


def test_reused_pid_is_not_mistaken_for_the_worker(env: Path) -> None:
    launch = launcher.start_run(env)
    finish(launch)
    info = rundir.read_json(launch.run_dir / "run.json")
    # pretend the pid now belongs to this test process (a long-lived, unrelated process)
    info["pid"] = os.getpid()
    rundir.write_json(launch.run_dir / "run.json", info)
    assert not process_alive(info)
    assert read_state(launch.run_dir).state == "finished"


def test_bad_recipe_writes_nothing(env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntraining:\n  lerning_rate: 1e-4\n")
    with pytest.raises(UserError):
        launcher.start_run(bad)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_worker_that_cannot_start_is_a_user_error(env: Path, monkeypatch) -> None:
    monkeypatch.setenv(launcher.WORKER_ENV, "/nonexistent/python -m nothing")
    with pytest.raises(UserError, match="could not start the worker"):
        launcher.start_run(env)
    assert not (env.parent / "runs" / "fake").exists()


def test_overwrite_refuses_a_running_run(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    launch = launcher.start_run(env, name="busy")
    try:
        wait_for(lambda: "start" in kinds(launch.run_dir))
        with pytest.raises(UserError, match="still running"):
            launcher.start_run(env, name="busy", overwrite=True)
    finally:
        launch.process.kill()
        launch.process.wait()


def test_real_worker_run_stop_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    """End to end on a tiny random-init model: run -> stop -> resume continues the steps.

    Most of its time is two interpreter start-ups importing torch/transformers/trl; the
    timeouts are generous for a loaded CI machine."""
    monkeypatch.setenv(rundir.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.delenv(launcher.WORKER_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        f"name: tiny\nmodel:\n  name_or_path: {tiny_model_dir}\n"
        "data:\n  cutoff_len: 64\n"
        "training:\n  max_steps: 40\n  batch_size: 1\n  grad_accum: 1\n  save_steps: 100\n"
        "  precision: fp32\n"
    )
    launch = launcher.start_run(recipe)
    log = launch.run_dir / "train.log"

    def first_step() -> bool:
        assert launch.process.poll() is None, log.read_text()[-3000:]
        return "log" in kinds(launch.run_dir)

    # Tiny steps take milliseconds on an idle machine: freeze the worker at its first log
    # so the stop lands mid-run however fast or loaded the machine is.
    wait_for(first_step, timeout=180, what="the first training step", interval=0.005)
    os.kill(launch.process.pid, signal.SIGSTOP)
    try:
        stopping.request_stop(launch.run_dir, wait_s=0)
    finally:
        os.kill(launch.process.pid, signal.SIGCONT)
    assert launch.process.wait(timeout=120) == 0, log.read_text()[-3000:]
    stopped = read_events(launch.run_dir / "events.jsonl")[-1]
    assert stopped["type"] == "stopped" and 1 <= stopped["step"] < 40
    assert rundir.find_checkpoint(launch.run_dir) is not None
    again = launcher.resume_run(launch.run_dir)
    assert again.process.wait(timeout=180) == 0, log.read_text()[-3000:]
    events = read_events(launch.run_dir / "events.jsonl")
    assert events[-1]["type"] == "end" and events[-1]["step"] == 40
    after = [e["step"] for e in events[len(again.history) :] if e["type"] == "log"]
    assert after and min(after) == stopped["step"] + 1
    assert read_state(launch.run_dir).state == "finished"


def test_plan_summary_warns_when_it_does_not_fit() -> None:
    hw = {"name": "RTX 4090", "memory_free_gib": 23.5}
    fits = {"estimate": {"total_gib": 9.5}, "hardware": hw, "recommendation": {"fits": True}}
    assert launcher.plan_summary(fits) == "plan: peak ~9.5 GiB on RTX 4090 (23.5 GiB free)"
    over = {"estimate": {"total_gib": 41.0}, "hardware": hw, "suggestion": "use qlora"}
    assert launcher.plan_summary(over).startswith("warning: planned peak 41.0 GiB")
    assert launcher.plan_summary({"available": False, "reason": "x"}) == (
        "plan: no memory estimate for this recipe (x)"
    )
    assert launcher.plan_summary({}) is None


def test_plan_json_is_written_for_the_run(env: Path) -> None:
    launch = launcher.start_run(env)
    finish(launch)
    plan = json.loads((launch.run_dir / "plan.json").read_text())
    assert "estimate" in plan or plan.get("available") is False
