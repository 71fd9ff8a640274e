"""Batch selection: the right items, K of them, never twice."""

from __future__ import annotations

import numpy as np
import pytest
from tunetui.runner.al.strategies import STRATEGIES, kcenter_greedy, select, top_k


def _data(n: int = 60, classes: int = 3, dims: int = 8):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, classes)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, rng.normal(size=(n, dims))


def test_margin_picks_the_ties_first() -> None:
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.7, 0.3], [0.55, 0.45]])
    rng = np.random.default_rng(0)
    assert select("margin", 2, rng=rng, probs=probs).tolist() == [1, 3]
    assert select("entropy", 2, rng=rng, probs=probs).tolist() == [1, 3]
    assert select("mnlp", 1, rng=rng, probs=probs).tolist() == [1]


def test_ties_keep_pool_order() -> None:
    assert top_k(np.array([0.2, 0.9, 0.9, 0.9]), 2).tolist() == [1, 2]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_gives_k_distinct_items(strategy: str) -> None:
    probs, emb = _data()
    picked = select(
        strategy, 10, rng=np.random.default_rng(1), probs=probs, emb=emb, labelled_emb=emb[:3]
    )
    assert len(picked) == 10
    assert len(set(picked.tolist())) == 10
    assert picked.min() >= 0 and picked.max() < len(probs)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_k_larger_than_pool_takes_everything_once(strategy: str) -> None:
    probs, emb = _data(n=7)
    picked = select(strategy, 50, rng=np.random.default_rng(0), probs=probs, emb=emb)
    assert sorted(picked.tolist()) == list(range(7))


def test_kcenter_goes_far_from_the_labelled() -> None:
    emb = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [10.0, 0.0]])
    # Labelled centre at the origin: the farthest point first, then the next farthest.
    assert kcenter_greedy(emb, 2, centres=np.array([[0.0, 0.0]])).tolist() == [3, 2]


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError):
        select("nope", 1, rng=np.random.default_rng(0), probs=np.ones((2, 2)) / 2)
