"""Building a trainer the way the worker does, for tests that inspect it without training."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def built_trainer(run_dir: Path) -> Any:
    """The trainer exactly as the worker builds it for the run in `run_dir` (no training):
    tests read what a recipe becomes in trl/peft on the path a real run takes."""
    from tunetui.runner.events import EventWriter
    from tunetui.runner.recipe_io import load_recipe
    from tunetui.runner.train.worker import Worker

    recipe = load_recipe(run_dir / "recipe.yaml")
    with EventWriter(run_dir / "events.jsonl") as writer:
        trainer, _, _ = Worker(run_dir, resume=False, writer=writer).build_trainer(recipe)
    return trainer
