"""The headless console view: plain lines in a pipe, summaries, crashes, Ctrl+C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tunetui.runner import console, consoleview, launcher, rundir
from tunetui.runner.events import read_events
from tunetui.runner.progress import RunProgress, format_duration
from waiting import follow_to_the_end as _follow
from waiting import wait_until


@pytest.fixture
def env(fake_runs) -> Path:
    """A recipe for the fake worker, runs under tmp_path/runs (conftest `fake_runs`)."""
    return fake_runs("con", max_steps=12)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pipe_mode_prints_plain_lines_and_summary(env: Path) -> None:
    out = io.StringIO()
    code = _follow(launcher.start_run(env), out, log_interval=0)
    text = out.getvalue()
    assert code == 0
    assert "\x1b[" not in text  # no terminal control codes in a CI log
    assert "start: sft lora" in text and "12 steps" in text
    assert "step 12/12 100%  loss" in text
    assert "checkpoint at step 5" in text
    assert "finished: step 12, final loss" in text and "peak memory 0.50 GiB" in text
    assert "adapter" in text.splitlines()[-1]


def test_pipe_mode_is_throttled_by_training_time(tmp_path: Path) -> None:
    view = consoleview.ConsoleView(tmp_path, io.StringIO(), log_interval=10)
    view.handle({"type": "start", "t": 0.0, "total_steps": 100})
    for step in range(1, 100):
        view.handle({"type": "log", "t": float(step), "step": step, "loss": 1.0})
    code = view.summary({"type": "end", "t": 100.0, "step": 100, "metrics": {}})
    lines = view.out.getvalue().splitlines()
    assert code == 0
    progress = [line for line in lines if line.startswith("step ")]
    assert 9 <= len(progress) <= 12  # ~one per 10 s of 100 s, plus the last before the end
    assert progress[-1].startswith("step 99/100")


def test_error_prints_message_traceback_and_log(env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FAIL_AT", "4")
    out = io.StringIO()
    launch = launcher.start_run(env)
    assert _follow(launch, out) == 1
    text = out.getvalue()
    assert "failed: fake failure at step 4" in text
    assert "RuntimeError" in text and f"full log: {launch.run_dir / 'train.log'}" in text


def test_worker_dying_without_event_is_reported_with_log_tail(env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_DIE_AT", "7")
    out = io.StringIO()
    assert _follow(launcher.start_run(env), out) == 1
    text = out.getvalue()
    assert "crashed: the worker" in text and "dying without a word" in text
    assert "tunetui run --resume con" in text


def test_attach_to_finished_run_replays_summary(env: Path) -> None:
    launch = launcher.start_run(env)
    launch.process.wait(timeout=30)
    out = io.StringIO()
    assert console.follow(launch.run_dir, out=out) == 0
    text = out.getvalue()
    assert text.startswith("run con: finished (step 12/12 100%)")
    assert "finished: step 12" in text


def test_tty_mode_draws_a_bar_then_the_outcome(env: Path) -> None:
    out = FakeTTY()
    assert _follow(launcher.start_run(env), out) == 0
    text = out.getvalue()
    assert "\x1b[" in text  # a live display, not plain lines
    bar = [line for line in text.splitlines() if "━" in line]
    assert bar and "12/12" in bar[-1] and "loss" in bar[-1]  # the bar's last state
    assert not any(line.startswith("step ") for line in text.splitlines())  # no step lines
    assert text.rfind("finished: step 12") > text.rfind("━")


def test_tty_mode_exits_1_when_the_run_fails(env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FAIL_AT", "4")
    out = FakeTTY()
    assert _follow(launcher.start_run(env), out) == 1
    assert "failed: fake failure at step 4" in out.getvalue()


def _attach_subprocess(run: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tunetui", "attach", run, "--headless"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, console.LOG_INTERVAL_ENV: "0.01"},
    )


def _rest(follower: subprocess.Popen[str]) -> str:
    """Everything the follower prints until it exits. (`communicate` would read the pipe
    itself and lose what `readline` already buffered.)"""
    rest = follower.stdout.read()
    follower.wait(timeout=30)
    return rest


def _wait_until_following(follower: subprocess.Popen[str]) -> list[str]:
    """Lines up to the follower's "following ..." header: its Ctrl+C handler is set up
    before that line is printed, so a SIGINT from then on is the follower's to handle."""
    seen = []
    while True:
        line = follower.stdout.readline()
        assert line, "the follower exited early: " + "".join(seen)
        seen.append(line)
        if line.startswith("following "):
            return seen


def _wait_for_log(run_dir: Path) -> None:
    wait_until(
        lambda: any(e["type"] == "log" for e in read_events(run_dir / "events.jsonl")),
        what="the first log event",
    )


def test_ctrl_c_stops_with_checkpoint_and_says_so(env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    monkeypatch.setenv("FAKE_STEPS", "200")
    launch = launcher.start_run(env)
    _wait_for_log(launch.run_dir)
    follower = _attach_subprocess("con")
    head = _wait_until_following(follower)
    follower.send_signal(signal.SIGINT)
    rest = _rest(follower)
    text = "".join(head) + rest
    assert follower.returncode == 0, text
    assert text.splitlines()[1].startswith("step ")  # where it was, right after attaching
    assert "stopping: saving a checkpoint" in text and "press Ctrl+C again to detach" in text
    assert "stopped at step" in text
    assert launch.process.wait(timeout=10) == 0
    assert read_events(launch.run_dir / "events.jsonl")[-1]["type"] == "stopped"


def test_second_ctrl_c_detaches_and_leaves_it_running(env: Path, monkeypatch) -> None:
    # Steps of 10 s: the worker cannot reach a step boundary (and stop) while we press
    # Ctrl+C twice, so the follower must detach and leave it running.
    monkeypatch.setenv("FAKE_STEP_S", "10")
    launch = launcher.start_run(env)
    try:
        follower = _attach_subprocess("con")
        head = _wait_until_following(follower)
        follower.send_signal(signal.SIGINT)
        wait_until(lambda: (launch.run_dir / "STOP").exists(), what="the first Ctrl+C's stop")
        follower.send_signal(signal.SIGINT)
        rest = _rest(follower)
        text = "".join(head) + rest
        assert follower.returncode == 130, text
        assert "stopping: saving a checkpoint" in text and "detached; the run goes on" in text
        assert launch.process.poll() is None  # still running; it stops at its next step
        assert (launch.run_dir / "STOP").exists()
    finally:
        launch.process.kill()
        launch.process.wait()


def test_events_file_is_valid_json_per_line(env: Path) -> None:
    launch = launcher.start_run(env)
    launch.process.wait(timeout=30)
    for line in (launch.run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        assert {"v", "t", "type"} <= set(event)


def test_long_history_is_read_in_full_before_following(tmp_path: Path) -> None:
    """An events file over one poll's 4 MiB: the old final event must still be found."""
    run = tmp_path / "long"
    run.mkdir()
    rundir.write_json(run / "run.json", {"pid": 999_999_999, "host": None})
    gpu = json.dumps({"v": 1, "t": 1.0, "type": "gpu", "cpu": {"rss_gib": 1.0, "pad": "x" * 80}})
    lines = [json.dumps({"v": 1, "t": 0.0, "type": "start", "total_steps": 9})]
    lines += [gpu] * 50_000
    lines.append(json.dumps({"v": 1, "t": 2.0, "type": "stopped", "step": 4}))
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")
    assert (run / "events.jsonl").stat().st_size > 4 << 20
    out = io.StringIO()
    assert console.follow(run, out=out) == 0
    assert "stopped at step 4" in out.getvalue()


def test_eta_from_the_step_rate_when_the_worker_gives_none() -> None:
    p = RunProgress()
    p.apply({"type": "start", "t": 0.0, "total_steps": 100})
    p.apply({"type": "log", "t": 10.0, "step": 10})
    assert p.eta_s is None
    p.apply({"type": "log", "t": 20.0, "step": 20})
    assert p.eta_s == pytest.approx(80.0)  # 1 step/s, 80 steps left
    p.apply({"type": "log", "t": 21.0, "step": 21, "eta_s": 5.0})
    assert p.eta_s == 5.0  # the worker's own estimate wins
    assert consoleview.status_text(p) == "step 21/100  21%  eta 5s"


def test_one_duration_format() -> None:
    assert format_duration(None) == "--" and format_duration(float("nan")) == "--"
    assert format_duration(42) == "42s" and format_duration(185) == "3m05s"
    assert format_duration(3725) == "1h02m"


def test_log_interval_zero_from_the_environment_prints_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(console.LOG_INTERVAL_ENV, "0")
    view = consoleview.make_view(tmp_path, io.StringIO())
    view.handle({"type": "start", "t": 0.0, "total_steps": 3})
    for step in (1, 2, 3):
        view.handle({"type": "log", "t": 0.1 * step, "step": step, "loss": 1.0})
    assert [line.split()[1] for line in view.out.getvalue().splitlines()[1:]] == [
        "1/3",
        "2/3",
        "3/3",
    ]
