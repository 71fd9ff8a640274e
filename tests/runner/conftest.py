"""Fixtures for the runner's tests: the tiny tokenizer, the embedded SmolLM2, run dirs.

The tiny model (hidden 64, 2 layers, ~100k parameters; `tiny_model_dir` in tests/conftest.py)
is built once per session; the real SmolLM2 conversion (~20 s) happens only for tests marked
``slow`` and is cached in the user cache (or ``$TUNETUI_CACHE``) so later sessions reuse it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def tiny_tokenizer() -> Any:
    """The project's tiny byte-level BPE tokenizer (ChatML); one per test module, because
    template tests change its ``chat_template``."""
    from tunetui.runner.train.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct, converted from its GGUF once and cached."""
    from tunetui.runner.train.loading import resolve_model_dir

    return resolve_model_dir("smollm2-135m")


def _recipe_yaml(recipe: dict[str, Any]) -> str:
    import yaml
    from tunetui.runner.recipe import Recipe

    return yaml.safe_dump(Recipe.model_validate(recipe).model_dump(mode="json"), sort_keys=False)


# The shipped demo dataset for each stage.
STAGE_DATA = {
    "sft": "identity",
    "pt": "pretrain_demo",
    "dpo": "dpo_demo",
    "orpo": "dpo_demo",
    "rm": "dpo_demo",
    "kto": "kto_demo",
}


@pytest.fixture
def make_run(tmp_path: Path, tiny_model_dir: Path) -> Callable[..., Path]:
    """Create a run dir with a recipe.yaml for a few fast steps on the tiny model.

    Keyword arguments override recipe sections (``training={...}`` merges into defaults).
    """

    def _make(name: str = "run", stage: str = "sft", method: str = "lora", **sections) -> Path:
        recipe: dict[str, Any] = {
            "name": name,
            "stage": stage,
            "method": method,
            "model": {"name_or_path": str(tiny_model_dir)},
            "data": {"datasets": [STAGE_DATA[stage]], "cutoff_len": 96, "max_samples": 16},
            "lora": {"rank": 4, "alpha": 8},
            "freeze": {"trainable_layers": 1},
            "training": {
                "max_steps": 3,
                "batch_size": 2,
                "grad_accum": 1,
                "save_steps": 2,
                "logging_steps": 1,
                "precision": "fp32",
            },
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(recipe.get(key), dict):
                recipe[key] = {**recipe[key], **value}
            else:
                recipe[key] = value
        run_dir = tmp_path / name
        run_dir.mkdir()
        (run_dir / "recipe.yaml").write_text(_recipe_yaml(recipe))
        return run_dir

    return _make


@pytest.fixture
def keep_signals() -> Iterator[None]:
    """The worker installs SIGTERM/SIGINT handlers; give pytest its own back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def run_worker(keep_signals: None) -> Callable[..., tuple[int, list[dict[str, Any]]]]:
    """Run the worker in-process on a run dir; returns (exit code, non-gpu events)."""
    from tunetui.runner.events import read_events
    from tunetui.runner.train.worker import main

    def _run(run_dir: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
        code = main([str(run_dir), *extra])
        events = [e for e in read_events(run_dir / "events.jsonl") if e["type"] != "gpu"]
        return code, events

    return _run
