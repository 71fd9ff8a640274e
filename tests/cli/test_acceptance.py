"""Acceptance checks found by using tunetui as a user over SSH would (fake worker, fast).

Each test pins one behaviour a user hit: a resumed run's first line is not the dead
attempt's step, attach says why it is quiet while the worker loads, a typo'd model fails
before a run folder exists, the GPU catalog fits 80 columns, the final loss is the last one.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from tunetui.runner import console, consoleview, launcher, rundir
from tunetui.runner.events import read_events
from waiting import follow_to_the_end, wait_until


@pytest.fixture
def env(fake_runs) -> Path:
    """A recipe for the fake worker, runs under tmp_path/runs (conftest `fake_runs`)."""
    return fake_runs("acc", save_steps=3, log_interval=0)


def _follow(launch: launcher.Launch) -> tuple[int, str]:
    out = io.StringIO()
    code = follow_to_the_end(launch, out)
    return code, out.getvalue()


def test_resume_after_crash_does_not_show_the_dead_attempts_step(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DIE_AT", "5")  # dies at step 5; newest checkpoint is 3
    code, _ = _follow(launcher.start_run(env))
    assert code == 1
    monkeypatch.delenv("FAKE_DIE_AT")
    code, text = _follow(launcher.resume_run(env.parent / "runs" / "acc"))
    assert code == 0, text
    lines = text.splitlines()
    assert lines[1] == "waiting for the worker to load the model and data…"
    progress = [line for line in lines if line.startswith("step ")]
    assert progress[0].startswith("step 4/10"), text  # continues after checkpoint-3


def test_attach_while_loading_says_so(tmp_path: Path) -> None:
    """No `start` event yet (torch and the model still loading): the view says why it is
    quiet instead of printing nothing for half a minute."""
    import psutil

    run = tmp_path / "loading"
    run.mkdir()
    worker = subprocess.Popen(["sleep", "30"])
    try:
        created = psutil.Process(worker.pid).create_time()
        rundir.write_json(run / "run.json", {"pid": worker.pid, "pid_create_time": created})
        (run / "events.jsonl").write_text("")
        out = io.StringIO()

        def kill_once_waiting() -> None:  # the worker dies while the view waits for it
            wait_until(lambda: "waiting for the worker" in out.getvalue(), what="the header")
            worker.kill()

        killer = threading.Thread(target=kill_once_waiting, daemon=True)
        killer.start()
        code = console.follow(run, out=out, poll_s=0.02)
        killer.join(timeout=5)
    finally:
        worker.kill()
        worker.wait()
    lines = out.getvalue().splitlines()
    assert lines[1] == "waiting for the worker to load the model and data…"
    assert code == 1 and "crashed" in out.getvalue()


def test_end_reports_last_loss_and_mean(tmp_path: Path) -> None:
    view = consoleview.ConsoleView(tmp_path, io.StringIO(), log_interval=0)
    view.handle({"type": "start", "t": 0.0, "total_steps": 2})
    view.handle({"type": "log", "t": 1.0, "step": 1, "loss": 5.0})
    view.handle({"type": "log", "t": 2.0, "step": 2, "loss": 3.5})
    view.summary({"type": "end", "t": 3.0, "step": 2, "metrics": {"train_loss": 4.25}})
    last = view.out.getvalue().splitlines()[-1]
    assert "final loss 3.5 (mean 4.25)" in last


def test_unknown_model_fails_before_a_run_folder_exists(cli, env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad-model.yaml"
    bad.write_text("name: bm\nmodel:\n  name_or_path: smollm2-13m\n")
    code, out, err = cli("run", str(bad), "--headless")
    assert code == 2, out + err
    assert err.count("\n") == 1 and "smollm2-135m" in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "bm").exists()
    missing = tmp_path / "missing-model.yaml"
    missing.write_text(f"name: mm\nmodel:\n  name_or_path: {tmp_path / 'no-such-model'}\n")
    code, _, err = cli("run", str(missing), "--headless")
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "runs" / "mm").exists()


def test_attach_mid_run_shows_where_it_is(cli, env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    code, out, _ = cli("run", str(env), "--detach")
    assert code == 0
    run = env.parent / "runs" / "acc"
    wait_until(lambda: any(e["type"] == "log" for e in read_events(run / "events.jsonl")))
    code, out, _ = cli("attach", "acc", "--headless")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("following acc") and lines[1].startswith("step ")
    assert "finished: step 10" in lines[-1]


def test_gpu_catalog_fits_80_columns(cli) -> None:
    code, out, _ = cli("gpus")
    assert code == 0
    rows = out.splitlines()
    assert max(len(row) for row in rows) <= 80
    assert any(row.startswith("rtx-4070-ti-super  GeForce RTX 4070 Ti SUPER") for row in rows)
    code, out, _ = cli("gpus", "--json")
    assert code == 0 and json.loads(out)["gpus"]


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_outcome_comes_after_the_final_bar(env: Path) -> None:
    launch = launcher.start_run(env)
    out = _TTY()
    code = console.follow(
        launch.run_dir, tail=launch.tail, history=launch.history, process=launch.process, out=out
    )
    text = out.getvalue()
    assert code == 0
    assert text.rfind("finished: step 10") > text.rfind("━")  # the bar is done by then
    header = text.splitlines()[0]
    assert header == "following acc · Ctrl+C: stop with a checkpoint · log runs/acc/train.log"


def test_resolved_recipe_has_absolute_data_and_model_paths(cli, env: Path, tmp_path: Path):
    """The run's recipe.yaml is a record: it must name the same files from any folder."""
    (tmp_path / "mine.json").write_text('[{"instruction": "hi", "output": "yo"}]')
    model = tmp_path / "m"
    model.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (model / name).write_text("{}")
    (model / "tokenizer_config.json").write_text('{"eos_token": "<|im_end|>"}')  # doctor asks
    recipe = tmp_path / "rel.yaml"
    recipe.write_text(
        "name: rel\nmodel:\n  name_or_path: m\ndata:\n  datasets: [mine.json, identity]\n"
        "training:\n  max_steps: 2\n"
    )
    code, _, err = cli("run", "rel.yaml", "--detach")
    assert code == 0, err
    import yaml

    saved = yaml.safe_load((tmp_path / "runs" / "rel" / "recipe.yaml").read_text())
    assert saved["data"]["datasets"] == [str(tmp_path / "mine.json"), "identity"]
    assert saved["model"]["name_or_path"] == str(model)
    assert recipe.read_text().count("mine.json") == 1  # the user's file is untouched


def test_a_worker_exiting_after_its_final_event_is_not_running(tmp_path: Path) -> None:
    """After `error` the worker may take seconds to exit (threads, CUDA teardown); `runs`
    must already say failed. An earlier attempt's final event still loses to a live worker."""
    import psutil
    from tunetui.runner.runstate import read_state

    run = tmp_path / "exiting"
    run.mkdir()
    worker = subprocess.Popen(["sleep", "30"])
    try:
        created = psutil.Process(worker.pid).create_time()
        started = time.time()
        rundir.write_json(
            run / "run.json", {"pid": worker.pid, "pid_create_time": created, "started": started}
        )
        old = {"v": 1, "t": started - 5, "type": "stopped", "step": 3}
        (run / "events.jsonl").write_text(json.dumps(old) + "\n")
        assert read_state(run).state == "running"  # resumed, new attempt still loading
        new = [
            {"v": 1, "t": started + 1, "type": "start", "step": 3},
            {"v": 1, "t": started + 2, "type": "error", "message": "boom"},
        ]
        with open(run / "events.jsonl", "a") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in new)
        state = read_state(run)
        assert state.state == "failed" and state.message == "boom"
    finally:
        worker.kill()
        worker.wait()


def test_incomplete_model_folder_fails_before_a_run_folder(cli, env: Path, tmp_path: Path):
    model = tmp_path / "half"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    recipe = tmp_path / "half.yaml"
    recipe.write_text(f"name: half\nmodel:\n  name_or_path: {model}\n")
    code, _, err = cli("run", str(recipe), "--headless")
    assert code == 2 and "has no weights" in err
    (model / "model.safetensors").write_bytes(b"")
    code, _, err = cli("run", str(recipe), "--headless")
    assert code == 2 and "has no tokenizer" in err
    assert not (tmp_path / "runs" / "half").exists()


def test_state_from_the_end_of_a_long_events_file_matches_a_full_read(tmp_path: Path) -> None:
    """`runs` reads events from the end (chunked, gpu samples skipped); same state."""
    from tunetui.runner import runstate

    run = tmp_path / "long"
    run.mkdir()
    rundir.write_json(run / "run.json", {"pid": 999_999_999, "started": 0.0})
    rows = [{"v": 1, "t": 0.0, "type": "start", "total_steps": 50, "step": 0}]
    for i in range(1, 30):
        rows.append({"v": 1, "t": float(i), "type": "gpu", "cpu": {"rss_gib": 1.0}})
        rows.append({"v": 1, "t": float(i), "type": "log", "step": i, "loss": 3.0 - i / 20})
    rows.append({"v": 1, "t": 30.0, "type": "stopped", "step": 29})
    rows.append({"v": 1, "t": 40.0, "type": "start", "total_steps": 50, "step": 29})
    rows += [{"v": 1, "t": 41.0 + i, "type": "gpu", "cpu": {}} for i in range(500)]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"v": 1, "t": 99, "ty'  # partial
    (run / "events.jsonl").write_text(text)
    recent = runstate.recent_events(run / "events.jsonl", chunk=64)  # many chunk borders
    assert [e["type"] for e in recent] == ["log", "stopped", "start", "gpu"]
    fast = runstate.read_state(run).to_json()
    full = runstate.read_state(run, events=read_events(run / "events.jsonl")).to_json()
    assert fast == full
    assert fast["state"] == "crashed" and fast["step"] == 29 and fast["loss"] == 3.0 - 29 / 20


def test_runs_says_why_a_run_failed(cli, env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FAIL_AT", "2")
    code, _, _ = cli("run", str(env), "--headless")
    assert code == 1
    code, out, _ = cli("runs")
    assert code == 0
    assert "acc failed: fake failure at step 2" in out
    assert max(len(line) for line in out.splitlines()) <= 80
