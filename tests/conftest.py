"""Shared test fixtures.

Tests run on CPU, fast: tiny random-init models from configs for most tests; the embedded
SmolLM2 only in tests marked ``slow`` (still run by `make test`). Everything a test reads
lives in the project (``tests/fixtures/``, ``recipes/data/``), so a fresh clone runs it all.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# Never touch a hub from tests, and keep runs out of the user's cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own run index and calibration file: a run started by one test
    must never be found by name in another, nor in the user's ~/.local/state/tunetui."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("TUNETUI_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_STATE_HOME", str(state / "xdg"))
    # Real workers append measured-vs-planned lines, and `plan` corrects itself by them:
    # a test must neither write the user's file nor be corrected by another test's runs.
    monkeypatch.setenv("TUNETUI_CALIBRATION", str(state / "calibration.jsonl"))
    yield
    # A worker run in-process may switch oneDNN's fp32 matmuls to bf16 inputs (hostmem: a
    # process-wide setting, right for a worker's one run): later tests get fp32 back.
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch.backends.mkldnn, "matmul"):
        torch.backends.mkldnn.matmul.fp32_precision = "none"


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; returns (exit_code, stdout, stderr)."""
    from tunetui.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


# A small copy of LLaMA-Factory's data folder and example recipes (see its README.md).
LF_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llamafactory"


@pytest.fixture(scope="session")
def lf_data() -> Path:
    """The LLaMA-Factory fixture folder: dataset_info.json, demo files, ``examples/``."""
    return LF_FIXTURES


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-init llama with a ChatML tokenizer (built in ~2 s, once a session)."""
    from tunetui.runner.train.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture
def hide_packages(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make optional packages look uninstalled (``importlib.util.find_spec`` says None), so
    the "pip install X" errors are tested on every machine, with or without X."""
    real = importlib.util.find_spec

    def _hide(*names: str) -> None:
        def find_spec(name: str, package: str | None = None):  # noqa: ANN202 - as importlib
            return None if name.split(".")[0] in names else real(name, package)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return _hide


FAKE_WORKER = Path(__file__).resolve().parent / "runner" / "fake_worker.py"


@pytest.fixture
def fake_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Runs under ``tmp_path/runs`` trained by the fake worker (20 ms steps, no torch), with
    the working directory at `tmp_path`. Returns ``write(name, max_steps=10, save_steps=5,
    log_interval=None)``, which writes ``tmp_path/recipe.yaml`` for such a run and returns
    its path; `log_interval` sets ``$TUNETUI_LOG_INTERVAL`` (seconds between progress lines).
    """
    from tunetui.runner import launcher, rundir

    monkeypatch.setenv(rundir.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(launcher.WORKER_ENV, f"{sys.executable} {FAKE_WORKER}")
    monkeypatch.setenv("FAKE_STEP_S", "0.02")
    monkeypatch.chdir(tmp_path)

    def write(
        name: str, max_steps: int = 10, save_steps: int = 5, log_interval: float | None = None
    ) -> Path:
        if log_interval is not None:
            monkeypatch.setenv("TUNETUI_LOG_INTERVAL", f"{log_interval:g}")
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(
            f"name: {name}\ntraining:\n  max_steps: {max_steps}\n  save_steps: {save_steps}\n"
        )
        return recipe

    return write
