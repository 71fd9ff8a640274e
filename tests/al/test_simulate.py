"""The benchmark's simulation and statistics on toy data."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import numpy as np
from tunetui.runner.al.classifier import Featurizer
from tunetui.runner.al.simulate import Curve, labels_to_reach, seed_set, simulate

BENCH = Path(__file__).resolve().parents[2] / "bench" / "active_learning.py"


def _bench(monkeypatch):
    """bench/active_learning.py as a module (its sibling modules importable, as when run)."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("al_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_simulate_pairs_seed_sets_and_never_repeats(make_sentence) -> None:
    rng = random.Random(1)
    y = [rng.choice(["pos", "neg"]) for _ in range(150)]
    texts = [make_sentence(rng, lab) for lab in y]
    feats = Featurizer().fit(texts)
    x = feats.transform(texts)
    emb = feats.embed(x)
    seed_idx = seed_set(y[:100], 6, np.random.default_rng(0))
    for strategy in ("random", "margin", "badge"):
        curve = simulate(
            x[:100], y[:100], emb[:100], x[100:], y[100:], ["neg", "pos"], seed_idx,
            strategy, k=5, rounds=3, seed=0,
        )  # fmt: skip
        assert curve.n_labels == [6, 11, 16, 21]
        assert all(0 <= m["macro_f1"] <= 1 for m in curve.metrics)


def test_labels_to_reach_and_saving(monkeypatch) -> None:
    c = Curve("margin", 0, [10, 20, 30], [{"f": 0.5}, {"f": 0.8}, {"f": 0.9}])
    assert labels_to_reach(c, 0.8, "f") == 20
    assert labels_to_reach(c, 0.95, "f") == float("inf")
    bench = _bench(monkeypatch)
    assert bench.saving(np.array([50.0, 50.0]), np.array([100.0, 100.0])) == 0.5
    est, lo, hi = bench.paired_bootstrap(
        np.array([50.0, 60.0, 40.0]), np.array([100.0, 100.0, 100.0]), bench.saving, n=500
    )
    assert est == 0.5 and 0.4 <= lo <= est <= hi <= 0.6
