"""Two real ranks on the CPU (gloo) through `tunetui run`: nothing faked, the real worker.

accelerate's launcher runs torch.distributed.run, which starts two workers; with no GPU
they pick gloo. The tiny model keeps each run to seconds of training (most of the time is
two interpreters importing torch on a shared CPU).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from tunetui.runner.events import read_events
from tunetui.runner.rundir import read_json

from tests.waiting import wait_until

TIMEOUT_S = 300


@pytest.fixture
def ddp_env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder with a 2-process DDP recipe (CPU) and its own runs root; returns a writer
    of that recipe with training overrides."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNETUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CPU ranks even on a GPU machine

    def write(strategy: str = "ddp", **training: Any) -> Path:
        recipe = {
            "name": strategy,
            "model": {"name_or_path": str(tiny_model_dir)},
            "data": {"datasets": ["identity"], "cutoff_len": 64, "max_samples": 16},
            "lora": {"rank": 4, "alpha": 8},
            "training": {"max_steps": 4, "batch_size": 2, "grad_accum": 1, "save_steps": 2,
                         "precision": "fp32", **training},
            "distributed": {"strategy": strategy, "num_processes": 2},
        }  # fmt: skip
        path = tmp_path / f"{strategy}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        return path

    return write


def _tunetui(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tunetui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return read_events(run_dir / "events.jsonl")


def _detached_past_first_step(recipe: Path) -> Path:
    """`tunetui run RECIPE --detach`, then wait for the first logged step (or a failure);
    the run's folder."""
    started = _tunetui("run", str(recipe), "--detach")
    run_dir = Path("runs/ddp").absolute()
    assert started.returncode == 0, started.stderr
    wait_until(lambda: _first(run_dir, "log") or _failed(run_dir), TIMEOUT_S, "a first step")
    return run_dir


def _first(run_dir: Path, type_: str) -> dict[str, Any] | None:
    return next((e for e in _events(run_dir) if e["type"] == type_), None)


def _log(run_dir: Path) -> str:
    return (run_dir / "train.log").read_text(errors="replace")[-4000:]


def test_ddp_two_ranks_train_an_adapter_with_equal_weights_and_per_rank_events(ddp_env):
    done = _tunetui("run", str(ddp_env()), "--headless")
    run_dir = Path("runs/ddp").absolute()
    assert done.returncode == 0, done.stdout + done.stderr + _log(run_dir)
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "accelerate_config.yaml").is_file()
    events = _events(run_dir)
    samples = [e for e in events if e["type"] == "gpu"]
    assert {e["rank"] for e in samples} == {0, 1}
    assert all("cpu" in e for e in samples)
    others = [e for e in events if e["type"] != "gpu"]
    assert all("rank" not in e for e in others)  # run events: rank 0's, once
    assert [e["type"] for e in others].count("start") == 1
    assert [e["step"] for e in others if e["type"] == "log"] == [1, 2, 3, 4]
    end = others[-1]
    assert end["type"] == "end" and end["step"] == 4
    first, second = end["rank_digests"]
    assert first == second  # DDP kept the two copies of the adapter identical
    start = others[0]
    assert start["distributed"] == {"strategy": "ddp", "world_size": 2, "num_machines": 1}


def test_ddp_stop_reaches_both_ranks_and_resume_restores_them(ddp_env):
    run_dir = _detached_past_first_step(ddp_env(max_steps=40, save_steps=1000))
    stop = _tunetui("stop", "ddp", timeout=60)
    assert stop.returncode == 0, stop.stderr
    stopped = wait_until(lambda: _first(run_dir, "stopped") or _failed(run_dir), TIMEOUT_S,
                         "the stopped event")  # fmt: skip
    assert stopped["type"] == "stopped", _log(run_dir)
    checkpoint = Path(stopped["checkpoint"])
    assert (checkpoint / "trainer_state.json").is_file()
    wait_until(lambda: not _agent_alive(run_dir), 120, "every rank to exit")
    resumed = _tunetui("run", "--resume", "ddp", "--headless")
    assert resumed.returncode == 0, resumed.stdout + _log(run_dir)
    runs = [e for e in _events(run_dir) if e["type"] != "gpu"]
    starts = [e for e in runs if e["type"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"] == str(checkpoint)
    after = [e["step"] for e in runs[runs.index(starts[1]) :] if e["type"] == "log"]
    assert after == list(range(stopped["step"] + 1, 41))
    assert runs[-1]["type"] == "end" and len(set(runs[-1]["rank_digests"])) == 1
    assert [e["type"] for e in runs].count("stopped") == 1


def test_a_rank_that_dies_takes_the_other_down_with_an_error_event(ddp_env):
    run_dir = _detached_past_first_step(ddp_env(max_steps=100000, save_steps=100000))
    rank1 = _rank_process(run_dir, 1)
    rank1.send_signal(signal.SIGKILL)
    wait_until(lambda: not _agent_alive(run_dir), 30, "the launcher and rank 0 to exit")
    errors = [e for e in _events(run_dir) if e["type"] == "error"]
    assert len(errors) == 1 and errors[0]["rank"] == 0  # one error line, not one per rank
    # rank 0 either saw the lost peer in its all-reduce (gloo's connection error) or was
    # taken down by the launcher first (the peer watch's line)
    message = errors[0]["message"]
    assert "another process of this run exited" in message or "gloo" in message
    assert "exitcode" in _log(run_dir)  # the launcher's report names the dead rank
    state = _tunetui("runs", "--json", timeout=60)
    assert '"failed"' in state.stdout or '"crashed"' in state.stdout


def _failed(run_dir: Path) -> dict[str, Any] | None:
    """An error event, or a launcher that is gone: returned so the wait stops at once."""
    error = _first(run_dir, "error")
    if error is not None:
        return error
    if (run_dir / "run.json").is_file() and not _agent_alive(run_dir):
        return {"type": "gone", "log": _log(run_dir)}
    return None


def _agent_alive(run_dir: Path) -> bool:
    pid = read_json(run_dir / "run.json").get("pid")
    if not isinstance(pid, int):
        return True  # not recorded yet
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _rank_process(run_dir: Path, rank: int) -> psutil.Process:
    agent = psutil.Process(read_json(run_dir / "run.json")["pid"])
    for child in agent.children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank):
                return child
        except psutil.Error:
            continue
    raise AssertionError(f"no rank {rank} process under the launcher {agent.pid}")
