"""`tunetui run/runs/attach/stop` through the CLI, with the fake worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tunetui.runner import rundir
from tunetui.runner.events import read_events
from waiting import pilot_until, replayed_dashboard, wait_until

HEAVY = ("torch", "transformers", "peft", "trl", "datasets", "bitsandbytes")


@pytest.fixture
def env(fake_runs, tmp_path: Path, monkeypatch) -> Path:
    """A recipe for the fake worker, runs under tmp_path/runs (conftest `fake_runs`), and
    a run index of the test's own (not the user's)."""
    monkeypatch.setenv(rundir.STATE_ENV, str(tmp_path / "state"))
    return fake_runs("cli", log_interval=0)


def _wait_done(run_dir: Path) -> None:
    final = ("end", "stopped", "error")
    wait_until(lambda: any(e["type"] in final for e in _events(run_dir)), what="a final event")


def _events(run_dir: Path) -> list[dict]:
    return read_events(run_dir / "events.jsonl")


def test_run_headless_follows_to_the_end(cli, env: Path) -> None:
    code, out, err = cli("run", str(env), "--headless")
    assert code == 0, err
    assert "started cli" in out and "finished: step 10" in out


def test_bad_recipe_exits_2_and_writes_nothing(cli, env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntraining:\n  lerning_rate: 0.1\n")
    code, _, err = cli("run", str(bad))
    assert code == 2 and err.startswith("error: ") and "learning_rate" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    code, _, err = cli("run", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err and not (tmp_path / "runs").exists()


def test_bad_data_exits_2_and_writes_nothing(cli, env: Path, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "mine.json").write_text('[{"instruction": "hi"}]')
    (tmp_path / "d" / "dataset_info.json").write_text('{"mine": {"file_name": "mine.json"}}')
    recipe = tmp_path / "data.yaml"
    recipe.write_text(f"name: d\ndata:\n  datasets: [mine]\n  dataset_dir: {tmp_path / 'd'}\n")
    code, _, err = cli("run", str(recipe))
    assert code == 2 and "mine.json" in err, err
    assert not (tmp_path / "runs").exists()


def test_name_taken_needs_overwrite(cli, env: Path) -> None:
    assert cli("run", str(env), "--name", "x", "--headless")[0] == 0
    code, _, err = cli("run", str(env), "--name", "x", "--detach")
    assert code == 2 and "--overwrite" in err
    code, out, _ = cli("run", str(env), "--name", "x", "--overwrite", "--headless")
    assert code == 0 and "finished" in out


def test_detach_runs_and_stop_resume_cycle(cli, env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    monkeypatch.setenv("FAKE_STEPS", "100")
    code, out, _ = cli("run", str(env), "--detach")
    assert code == 0 and "tunetui attach cli" in out
    run_dir = Path(rundir.runs_root()) / "cli"
    code, out, _ = cli("runs", "--json")
    assert code == 0 and json.loads(out)[0]["state"] == "running"
    code, _, err = cli("run", "--resume", "cli")
    assert code == 2 and "still running" in err
    code, out, _ = cli("stop", "cli")
    assert code == 0 and ("stopped at step" in out or "next step" in out)
    _wait_done(run_dir)
    stopped = _events(run_dir)[-1]
    assert stopped["type"] == "stopped"
    code, out, _ = cli("stop", "cli")
    assert code == 0 and "not running (stopped)" in out
    monkeypatch.setenv("FAKE_STEP_S", "0.005")
    code, out, _ = cli("run", "--resume", "cli", "--headless")
    assert code == 0 and f"from checkpoint-{stopped['step']}" in out and "finished" in out
    steps = [e["step"] for e in _events(run_dir) if e["type"] == "log"]
    assert steps == list(range(1, 101))


def test_runs_table_and_json(cli, env: Path, monkeypatch) -> None:
    code, out, _ = cli("runs")
    assert code == 0 and "no runs" in out
    assert cli("runs", "--json")[1].strip() == "[]"
    cli("run", str(env), "--name", "ok", "--headless")
    monkeypatch.setenv("FAKE_FAIL_AT", "3")
    assert cli("run", str(env), "--name", "bad", "--headless")[0] == 1
    monkeypatch.setenv("FAKE_FAIL_AT", "0")
    monkeypatch.setenv("FAKE_DIE_AT", "2")
    assert cli("run", str(env), "--name", "dead", "--headless")[0] == 1
    code, out, _ = cli("runs", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert {n: r["state"] for n, r in rows.items()} == {
        "ok": "finished",
        "bad": "failed",
        "dead": "crashed",
    }
    assert rows["ok"]["step"] == 10 and rows["ok"]["total_steps"] == 10
    assert rows["ok"]["loss"] == round(3.0 * 0.97**10, 4)  # the fake's last logged loss
    assert rows["ok"]["duration_s"] >= 0
    code, out, _ = cli("runs")
    assert code == 0 and "finished" in out and "10/10" in out and "crashed" in out


def test_attach_and_stop_unknown_run_suggest(cli, env: Path) -> None:
    cli("run", str(env), "--name", "alpha", "--headless")
    code, _, err = cli("attach", "alpah")
    assert code == 2 and "Did you mean 'alpha'" in err
    code, _, err = cli("stop", "nope")
    assert code == 2 and "tunetui runs" in err
    code, out, _ = cli("attach", "alpha")
    assert code == 0 and "finished: step 10" in out
    code, out, _ = cli("attach")  # the latest run
    assert code == 0 and "run alpha: finished" in out


def test_resume_rejects_new_run_options(cli, env: Path) -> None:
    cli("run", str(env), "--name", "r", "--headless")
    code, _, err = cli("run", "--resume", "r", "--name", "other")
    assert code == 2 and "--resume" in err
    code, _, err = cli("run", "--resume", "r")
    assert code == 2 and "already finished" in err
    code, _, err = cli("run", "r")
    # finished: resuming would only fail again; point at its result and its recipe
    assert code == 2 and "is a run (finished), not a recipe" in err
    assert "--resume" not in err and "tunetui attach r" in err and "recipe.yaml" in err


@pytest.mark.parametrize("argv", [["run", "--help"], ["runs"], ["runs", "--json"]])
def test_run_commands_do_not_import_heavy_stack(argv: list[str], tmp_path: Path) -> None:
    code = (
        "import sys, json\nfrom tunetui.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    ).stdout
    mods = json.loads(out.strip().splitlines()[-1])
    assert sorted(m for m in mods if m.split(".")[0] in HEAVY) == []


def test_runner_light_modules_stay_light() -> None:
    code = (
        "import sys, json\n"
        "import tunetui.runner.launcher, tunetui.runner.console, tunetui.runner.rundir\n"
        "import tunetui.runner.runstate\n"
        "import tunetui.commands.run, tunetui.commands.runs, tunetui.commands.attach\n"
        "import tunetui.commands.stop\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    mods = json.loads(out.strip().splitlines()[-1])
    assert sorted(m for m in mods if m.split(".")[0] in (*HEAVY, "textual")) == []


def test_stop_wait_blocks_until_stopped(cli, env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.3")
    monkeypatch.setenv("FAKE_STEPS", "100")
    assert cli("run", str(env), "--detach")[0] == 0
    run_dir = Path(rundir.runs_root()) / "cli"
    wait_until(lambda: any(e["type"] == "log" for e in _events(run_dir)), what="a step")
    code, out, _ = cli("stop", "cli", "--wait")
    assert code == 0 and "cli is stopped at step" in out and "run --resume cli" in out
    assert _events(run_dir)[-1]["type"] == "stopped"


def test_run_and_attach_in_a_pipe_exit_1_when_the_run_fails(cli, env: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FAIL_AT", "3")
    code, out, _ = cli("run", str(env), "--name", "bad")  # captured stdout: not a terminal
    assert code == 1 and "failed: fake failure at step 3" in out
    code, out, _ = cli("attach", "bad")
    assert code == 1 and out.startswith("run bad: failed")


def _dashboard_until_the_end(run_dir: Path) -> str:
    """`run_dashboard` as a user who watches the run to its end, then quits (headless)."""
    from tunetui.tui.dashboard import DashboardApp

    async def watch_then_quit(pilot) -> None:
        screen = await replayed_dashboard(pilot)
        await pilot_until(pilot, lambda: screen.view.finished, what="the run's end")
        pilot.app.exit("quit")

    app = DashboardApp(run_dir, poll_s=0.05)
    return app.run(headless=True, size=(80, 24), auto_pilot=watch_then_quit) or "quit"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` and `attach` believe they are in a terminal and open the dashboard."""
    monkeypatch.setattr("tunetui.commands.run._interactive", lambda: True)
    monkeypatch.setattr("tunetui.tui.dashboard.run_dashboard", _dashboard_until_the_end)


def test_run_in_a_terminal_exits_with_the_runs_outcome(cli, env: Path, terminal, monkeypatch):
    """The dashboard path used to exit 0 whatever happened to the run."""
    assert cli("run", str(env), "--name", "ok")[0] == 0
    monkeypatch.setenv("FAKE_FAIL_AT", "3")
    code, out, err = cli("run", str(env), "--name", "bad")
    assert code == 1, out + err
    assert cli("attach", "bad")[0] == 1
    monkeypatch.setenv("FAKE_FAIL_AT", "0")
    monkeypatch.setenv("FAKE_DIE_AT", "2")  # no final event: the dashboard finds it gone
    assert cli("run", str(env), "--name", "dead")[0] == 1
    assert cli("attach", "ok")[0] == 0


def test_runs_are_found_by_name_from_another_folder(
    cli, env: Path, tmp_path: Path, monkeypatch
) -> None:
    """`tunetui stop wizrun` from another directory used to say "unknown run"."""
    assert cli("run", str(env), "--name", "wizrun", "--headless")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv(rundir.RUNS_ENV)  # ./runs here has nothing
    code, out, _ = cli("runs")
    assert code == 0 and "wizrun" in out
    assert str(tmp_path / "runs") in "".join(out.split())  # its folder, maybe wrapped
    assert json.loads(cli("runs", "--json")[1])[0]["path"] == str(tmp_path / "runs" / "wizrun")
    code, out, err = cli("stop", "wizrun")
    assert code == 0 and "wizrun is not running (finished)" in out, err
    code, out, _ = cli("attach", "wizrun", "--headless")
    assert code == 0 and "finished: step 10" in out
    code, _, err = cli("run", "wizrun")  # a run's name, not a recipe: says what to do
    assert code == 2 and "'wizrun' is a run (finished)" in err
