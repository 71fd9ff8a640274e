"""In-memory AL simulation against known labels, for benchmarks.

The CLI loop (`project.run_loop`) goes through files so that people can stop and resume
it; a benchmark runs thousands of rounds, so it uses the same selection model and
strategies on arrays instead. Everything random comes from one seed, and random sampling
and each strategy start from the *same* seed set, so their curves are paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tunetui.runner.al.classifier import TextClassifier, classification_metrics
from tunetui.runner.al.strategies import select


@dataclass
class Curve:
    """One learning curve: metrics after each round, with the labels spent so far."""

    strategy: str
    seed: int
    n_labels: list[int] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)

    def values(self, metric: str) -> np.ndarray:
        return np.asarray([m[metric] for m in self.metrics])


def seed_set(y: Sequence[str], size: int, rng: np.random.Generator) -> np.ndarray:
    """A random seed set of `size` items that holds at least two classes (when possible)."""
    y = np.asarray(y)
    for _ in range(100):
        idx = rng.choice(len(y), size=size, replace=False)
        if len(np.unique(y[idx])) >= min(2, len(np.unique(y))):
            return idx
    return idx


def simulate(
    x_pool: Any,
    y_pool: Sequence[str],
    emb_pool: np.ndarray,
    x_test: Any,
    y_test: Sequence[str],
    labels: Sequence[str],
    seed_idx: np.ndarray,
    strategy: str,
    k: int,
    rounds: int,
    seed: int,
) -> Curve:
    """Run `rounds` rounds of select-K / retrain from `seed_idx`; metric after each retrain."""
    rng = np.random.default_rng(seed)
    y_pool = np.asarray(y_pool)
    labelled = np.zeros(len(y_pool), dtype=bool)
    labelled[seed_idx] = True
    curve = Curve(strategy=strategy, seed=seed)
    for r in range(rounds + 1):
        idx = np.flatnonzero(labelled)
        model = TextClassifier(labels, seed=seed).fit(x_pool[idx], y_pool[idx])
        curve.n_labels.append(int(labelled.sum()))
        curve.metrics.append(classification_metrics(y_test, model.predict(x_test)))
        if r == rounds:
            break
        cand = np.flatnonzero(~labelled)
        probs = None if strategy in ("random", "kcenter") else model.predict_proba(x_pool[cand])
        picked = select(
            strategy,
            k,
            rng=rng,
            probs=probs,
            emb=emb_pool[cand],
            labelled_emb=emb_pool[idx],
        )
        labelled[cand[picked]] = True
    return curve


def labels_to_reach(curve: Curve, target: float, metric: str) -> float:
    """Labels spent when the curve first reaches `target`; inf when it never does."""
    for n, m in zip(curve.n_labels, curve.metrics, strict=True):
        if m[metric] >= target:
            return float(n)
    return float("inf")
