"""The training process end to end: events, stop, resume (also after kill -9), errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tunetui.runner.events import read_events
from waiting import wait_until

pytestmark = pytest.mark.filterwarnings("ignore")


def _spawn(run_dir: Path, *extra: str) -> subprocess.Popen:
    log = open(run_dir / "train.log", "ab")  # noqa: SIM115 - handed to the child
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tunetui.runner.train.worker", str(run_dir), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )


def _wait_for(run_dir: Path, type_: str, proc: subprocess.Popen, timeout: float = 240) -> dict:
    """The first `type_` event; fails at once, with train.log, if the worker exits first."""

    def event() -> dict | None:
        found = next((e for e in read_events(run_dir / "events.jsonl") if e["type"] == type_), None)
        if found is None and proc.poll() is not None:
            log = (run_dir / "train.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"no {type_} event (exit {proc.poll()}); train.log:\n{log}")
        return found

    return wait_until(event, timeout, what=f"a {type_} event")


def _set_max_steps(run_dir: Path, steps: int) -> None:
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    recipe["training"]["max_steps"] = steps
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))


def test_events_file_is_valid_line_by_line(make_run, run_worker) -> None:
    run_dir = make_run()
    code, _ = run_worker(run_dir)
    assert code == 0
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(e["v"] == 1 and isinstance(e["t"], float) for e in events)
    types = [e["type"] for e in events if e["type"] != "gpu"]
    # the first step's measured memory comes before its log line
    assert types == ["start", "memory", "log", "log", "checkpoint", "log", "checkpoint", "end"]
    start = events[[e["type"] for e in events].index("start")]
    assert start["total_steps"] == 3 and start["pid"] == os.getpid()
    assert start["device"] == "cpu" and start["resumed_from"] is None
    assert 0 < start["trainable_params"] < start["total_params"]
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()


def test_stop_while_loading_exits_without_training(make_run, run_worker) -> None:
    run_dir = make_run()
    (run_dir / "STOP").touch()
    code, events = run_worker(run_dir)
    assert code == 0
    assert [e["type"] for e in events] == ["stopped"]
    assert events[0]["step"] == 0 and events[0]["checkpoint"] is None


def test_stop_file_then_resume_continues_the_step_count(
    make_run, run_worker, monkeypatch, capsys
) -> None:
    from tunetui.runner.train.callbacks import EventsCallback

    run_dir = make_run(training={"max_steps": 3, "save_steps": 100})
    on_step_end = EventsCallback.on_step_end

    def stop_after_first_step(self, args, state, control, **kw):
        (run_dir / "STOP").touch()  # what `tunetui stop` does, at a known step
        return on_step_end(self, args, state, control, **kw)

    monkeypatch.setattr(EventsCallback, "on_step_end", stop_after_first_step)
    code, events = run_worker(run_dir)
    monkeypatch.undo()
    assert code == 0
    assert events[-1]["type"] == "stopped" and events[-1]["step"] == 1
    assert Path(events[-1]["checkpoint"]).name == "checkpoint-1"
    assert (run_dir / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()
    assert not (run_dir / "adapter").exists()
    assert f"`tunetui run --resume {run_dir.name}`" in capsys.readouterr().out
    assert not (run_dir / "checkpoints" / "README.md").exists()  # no model card there

    code, events = run_worker(run_dir, "--resume")
    assert code == 0
    assert not (run_dir / "STOP").exists()
    starts = [e for e in events if e["type"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"].endswith("checkpoint-1")
    assert starts[1]["step"] == 1
    later = [e["step"] for e in events[events.index(starts[1]) :] if e["type"] == "log"]
    assert later == [2, 3]
    assert events[-1]["type"] == "end" and events[-1]["step"] == 3
    assert not (run_dir / "checkpoints" / "README.md").exists()


def test_sigterm_saves_a_checkpoint_and_stops(make_run) -> None:
    run_dir = make_run(training={"max_steps": 100000, "save_steps": 100000})
    proc = _spawn(run_dir)
    try:
        _wait_for(run_dir, "log", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    stopped = [e for e in read_events(run_dir / "events.jsonl") if e["type"] == "stopped"]
    assert len(stopped) == 1
    checkpoint = Path(stopped[0]["checkpoint"])
    assert checkpoint.name == f"checkpoint-{stopped[0]['step']}"
    assert (checkpoint / "trainer_state.json").is_file()
    assert "Stop requested (SIGTERM)" in (run_dir / "train.log").read_text()


def test_resume_after_kill_9_uses_the_last_saved_checkpoint(make_run, run_worker) -> None:
    run_dir = make_run(training={"max_steps": 100000, "save_steps": 2})
    proc = _spawn(run_dir)
    try:
        saved = _wait_for(run_dir, "checkpoint", proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    from tunetui.runner.rundir import find_checkpoint

    last = find_checkpoint(run_dir)
    assert last is not None
    step = int(last.name.split("-")[1])
    assert step >= saved["step"]
    _set_max_steps(run_dir, step + 2)
    code, events = run_worker(run_dir, "--resume")
    assert code == 0, events[-1]
    start = [e for e in events if e["type"] == "start"][-1]
    assert start["resumed_from"] == str(last)
    after = [e["step"] for e in events[events.index(start) :] if e["type"] == "log"]
    assert after == [step + 1, step + 2]
    assert events[-1]["type"] == "end" and events[-1]["step"] == step + 2


def test_bad_model_is_an_error_event_and_exit_2(make_run, run_worker) -> None:
    run_dir = make_run(model={"name_or_path": "smollm2-135n"})
    code, events = run_worker(run_dir)
    assert code == 2
    assert events[-1]["type"] == "error"
    assert "smollm2-135m" in events[-1]["message"]  # the close match


def test_crash_is_an_error_event_with_traceback_and_exit_1(make_run, run_worker) -> None:
    run_dir = make_run()
    # A corrupt weights file is not a user error the worker can name: it is a crash.
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    broken = run_dir.parent / "broken-model"
    broken.mkdir()
    src = Path(recipe["model"]["name_or_path"])
    for f in src.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    recipe["model"]["name_or_path"] = str(broken)
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    code, events = run_worker(run_dir)
    assert code == 1
    assert events[-1]["type"] == "error" and events[-1]["traceback_tail"]


def test_plan_gib_is_read_from_plan_json(tmp_path: Path) -> None:
    """The reader the ``end`` event's plan_gib comes from (rundir's, shared with the console)."""
    from tunetui.runner.rundir import plan_gib

    assert plan_gib(tmp_path) is None
    (tmp_path / "plan.json").write_text(json.dumps({"estimate": {"total_gib": 3.21}}))
    assert plan_gib(tmp_path) == 3.21
    (tmp_path / "plan.json").write_text(json.dumps({"available": False}))
    assert plan_gib(tmp_path) is None


@pytest.mark.slow
def test_embedded_smollm2_sft_lora_quickstart(make_run, run_worker, smollm2_dir) -> None:
    """The default recipe's model and method: one step of SFT + LoRA on SmolLM2-135M
    (a step is ~12 s of CPU time, so the test stays at one)."""
    run_dir = make_run(
        model={"name_or_path": "smollm2-135m"},
        training={"max_steps": 1, "batch_size": 1, "save_steps": 100},
        data={"max_samples": 4, "cutoff_len": 64},
    )
    code, events = run_worker(run_dir)
    assert code == 0, events[-1]
    assert events[0]["model_dir"] == str(smollm2_dir)
    end = events[-1]
    assert end["type"] == "end" and end["step"] == 1
    assert 0 < end["metrics"]["loss"] < 10  # a trained Instruct model, not random init


def test_missing_package_fails_before_loading_anything(make_run, run_worker, hide_packages) -> None:
    hide_packages("galore_torch")
    run_dir = make_run(method="full", training={"optimizer": "galore"})
    code, events = run_worker(run_dir)
    assert code == 2
    assert [e["type"] for e in events] == ["error"]
    assert "pip install 'tunetui[galore]'" in events[0]["message"]


def test_sampler_emits_cpu_readings_without_a_gpu(tmp_path: Path) -> None:
    from tunetui.runner.events import EventWriter
    from tunetui.runner.train.sampler import Sampler

    path = tmp_path / "events.jsonl"
    with EventWriter(path) as writer:
        sampler = Sampler(writer, interval=0.05)
        sampler._gpus = None  # as on a machine without NVML
        sampler.start()
        wait_until(lambda: len(read_events(path)) >= 2, what="two gpu events")
        sampler.stop()
        sampler.join(timeout=2)
    events = read_events(path)
    assert len(events) >= 2 and all(e["type"] == "gpu" for e in events)
    cpu = events[-1]["cpu"]
    assert set(cpu) == {"util", "ram_used_gib", "ram_total_gib", "rss_gib"}
    assert 0 < cpu["rss_gib"] < cpu["ram_total_gib"]
