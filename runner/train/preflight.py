"""Checks that fail in a second instead of after the model has loaded.

The worker runs `preflight` first thing; `check_loggers` is also called again when the
trainer's config is built. This module sits between ``methods`` and ``stages``: it may
import ``methods`` (the optimizer checks) and ``stages.common`` imports it, so ``methods``
never needs to import a stage module.
"""

from __future__ import annotations

import importlib.util

from tunetui.planner.errors import UserError
from tunetui.runner.recipe import Recipe
from tunetui.runner.train.methods import check_qlora_backend, optimizer_args

# The module each logger needs and the package that provides it.
_LOGGER_PACKAGES = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
}


def check_loggers(report_to: list[str]) -> list[str]:
    """The recipe's loggers (minus "none"), each checked to be installed: transformers
    would otherwise fail deep inside the trainer with an import error."""
    loggers = [x for x in report_to if x != "none"]
    for name in loggers:
        module, package = _LOGGER_PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise UserError(
                f"report_to: {name} is not installed",
                f"Install it with `pip install {package}`, or remove it from report_to",
            )
    return loggers


def preflight(recipe: Recipe) -> None:
    """Check, without torch, that the packages the recipe needs are installed, so a missing
    one fails in a second instead of after the model has loaded. The launcher may call it
    before spawning the worker; the worker calls it first thing."""
    check_qlora_backend(recipe)
    optimizer_args(recipe, "cpu")
    check_loggers(recipe.report_to)
