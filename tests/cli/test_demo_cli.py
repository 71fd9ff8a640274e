"""`tunetui demo`: the main job, end to end through launcher + worker on a tiny model.

The real demo (embedded SmolLM2, the quickstart recipe) is the ``slow`` test; the fast one
runs the same path on a tiny random model for two steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

tiny = pytest.importorskip("tunetui.runner.train.tiny")


@pytest.fixture
def runs(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TUNETUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TUNETUI_LOG_INTERVAL", "0")
    return tmp_path / "runs"


def test_demo_on_tiny_model_trains_and_compares(tmp_path: Path, runs: Path, cli) -> None:
    model = tiny.make_tiny_model(tmp_path / "tiny")
    code, out, err = cli(
        "demo", "--model", str(model), "--steps", "2", "--max-new-tokens", "4", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == runs and (run_dir / "adapter" / "adapter_config.json").is_file()
    assert [r["question"] for r in result["answers"]] == ["Who are you?", "What can you do?"]
    assert all({"base", "tuned"} <= set(r) for r in result["answers"])
    assert "finished" in err  # the headless console view went to stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["demo", "--model", "./no/such/model"], "does not exist"),
        (["demo", "--model", "smollm3-9b"], "unknown model"),
        (["demo", "--name", "a/b"], "invalid run name"),
    ],
)
def test_demo_bad_input_is_one_line(runs: Path, cli, args: list[str], needle: str) -> None:
    code, _, err = cli(*args)
    lines = [line for line in err.strip().splitlines() if not line.startswith("tunetui demo:")]
    assert code == 2 and needle in err, err
    assert len(lines) == 1 and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())  # nothing half written


def test_demo_refuses_an_existing_run_folder(tmp_path: Path, runs: Path, cli) -> None:
    existing = runs / "mine"
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("x")
    code, _, err = cli("demo", "--name", "mine")
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert (existing / "keep.txt").is_file()


@pytest.mark.slow
def test_real_demo_on_embedded_smollm2(runs: Path, cli) -> None:
    """The `make demo` path on the embedded model (converted once), shortened to 3 steps."""
    pytest.importorskip("gguf")
    code, out, err = cli("demo", "--steps", "3", "--max-new-tokens", "16")
    assert code == 0, err
    assert "Q: Who are you?" in out and "  base " in out and "  tuned " in out
    assert "tunetui chat" in out
