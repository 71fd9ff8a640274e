"""Stopping rules: budget, plateau, stabilising predictions; whichever fires first."""

from __future__ import annotations

from tunetui.runner.al.stopping import StopRules, decide, plateau, stable_predictions


def test_plateau() -> None:
    assert not plateau([0.5, 0.6, 0.7], delta=0.01, rounds=3)  # not enough rounds yet
    assert plateau([0.5, 0.8, 0.801, 0.802, 0.80], delta=0.01, rounds=3)
    assert not plateau([0.5, 0.8, 0.801, 0.802, 0.82], delta=0.01, rounds=3)


def test_stabilising_predictions() -> None:
    assert not stable_predictions([None, 0.99, 0.995], threshold=0.99, window=3)
    assert stable_predictions([None, 0.5, 0.99, 0.995, 1.0], threshold=0.99, window=3)
    assert not stable_predictions([None, 0.99, 0.95, 1.0], threshold=0.99, window=3)


def test_decide_says_which_rule_and_why() -> None:
    rules = StopRules(budget=100, plateau_delta=0.01, plateau_rounds=2, kappa=0.99, kappa_window=2)
    d = decide(100, [0.1, 0.5], [None, 0.2], rules)
    assert d.stop and d.rule == "budget" and "100" in d.reason
    d = decide(50, [0.1, 0.5, 0.5, 0.5], [None, 0.2, 0.3, 0.4], rules)
    assert d.stop and d.rule == "plateau"
    d = decide(50, [0.1, 0.5, 0.6, 0.7], [None, 0.2, 0.995, 1.0], rules)
    assert d.stop and d.rule == "stabilizing-predictions"
    d = decide(50, [0.1, 0.5, 0.6, 0.7], [None, 0.2, 0.5, 0.9], rules)
    assert not d.stop and d.rule is None
