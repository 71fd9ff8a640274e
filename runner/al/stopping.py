"""When to stop labelling: whichever rule fires first, stated in words.

- budget: the labels spent reached the budget.
- plateau: the best metric of the last N rounds is less than delta above the best before
  them (the held-out metric stopped improving).
- stabilising predictions (Bloodgood & Vijay-Shanker 2009): the model's predictions on a
  fixed, never-labelled stop set barely change between rounds; stop when the mean Cohen's
  kappa between consecutive rounds over the last `window` rounds reaches the threshold
  (the paper uses 0.99 over 3). It needs no labels, which matters when the held-out set is small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StopRules:
    """Thresholds for the three rules; `budget` None means no label budget."""

    budget: int | None = None
    plateau_delta: float = 0.005
    plateau_rounds: int = 3
    kappa: float = 0.99
    kappa_window: int = 3


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    rule: str | None  # "budget" | "plateau" | "stabilizing-predictions" | None
    reason: str


def plateau(metrics: Sequence[float], delta: float, rounds: int) -> bool:
    """True when the last `rounds` rounds gained less than `delta` over the best before."""
    if rounds < 1 or len(metrics) <= rounds:
        return False
    before = max(metrics[:-rounds])
    return max(metrics[-rounds:]) - before < delta


def stable_predictions(kappas: Sequence[float | None], threshold: float, window: int) -> bool:
    """True when the mean of the last `window` consecutive-round kappas is >= threshold."""
    recent = [k for k in kappas if k is not None][-window:]
    return window >= 1 and len(recent) == window and sum(recent) / window >= threshold


def decide(
    n_labels: int, metrics: Sequence[float], kappas: Sequence[float | None], rules: StopRules
) -> StopDecision:
    """Check budget, then plateau, then stabilising predictions."""
    if rules.budget is not None and n_labels >= rules.budget:
        return StopDecision(True, "budget", f"budget reached: {n_labels} >= {rules.budget} labels")
    if plateau(metrics, rules.plateau_delta, rules.plateau_rounds):
        return StopDecision(
            True,
            "plateau",
            f"plateau: gain < {rules.plateau_delta:g} over the last {rules.plateau_rounds} rounds",
        )
    if stable_predictions(kappas, rules.kappa, rules.kappa_window):
        return StopDecision(
            True,
            "stabilizing-predictions",
            f"stabilising predictions: mean kappa over the last {rules.kappa_window} rounds "
            f">= {rules.kappa:g}",
        )
    return StopDecision(False, None, "keep going: no stopping rule fired")
