"""Checks that fail in a second instead of after the model has loaded.

The worker runs `preflight` first thing; `check_loggers` is also called again when the
trainer's config is built. This module sits between ``methods`` and ``stages``: it may
import ``methods`` (the optimizer checks) and ``stages.common`` imports it, so ``methods``
never needs to import a stage module.
"""

from __future__ import annotations

from tunetui.runner.recipe import Recipe
from tunetui.runner.requirements import check_loggers, check_requirements

__all__ = ["check_loggers", "preflight"]


def preflight(recipe: Recipe) -> None:
    """The launcher's requirement checks again (a recipe can be edited in a run folder
    between runs), first thing in the worker, before the model loads."""
    check_requirements(recipe)
