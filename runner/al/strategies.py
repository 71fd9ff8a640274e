"""Batch selection: which K pool items go to people next.

Pure uncertainty sampling sends near-duplicates when the pool has clusters of similar
items, so the diversity strategies spend part of the batch on coverage:

- `entropy`, `margin`, `mnlp`: top-K by the uncertainty score (ties broken by pool order,
  so results are reproducible).
- `random`: uniform sample; the baseline every other strategy is measured against.
- `cluster-margin`: prefilter the ``beta*K`` most uncertain items (by margin), cluster them
  into K groups with uncertainty-weighted k-means and take the item nearest each centre
  (Zhdanov 2019, "diverse mini-batch active learning"; close in spirit to Citovsky et al.
  2021 cluster-margin).
- `kcenter`: greedy k-center / core-set (Sener & Savarese 2018) in embedding space, starting
  from the labelled items as centres.
- `badge`: k-means++ seeding on gradient embeddings ``(p - onehot(argmax p)) x`` (Ash et al.
  2020); for a linear model the last layer is the whole model, so ``x`` is the item's
  (SVD-reduced) feature vector.
"""

from __future__ import annotations

import numpy as np
from tunetui.runner.al import scoring

STRATEGIES = ("margin", "entropy", "mnlp", "random", "cluster-margin", "kcenter", "badge")
UNCERTAINTY = ("margin", "entropy", "mnlp")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the K highest scores; equal scores keep pool order (stable)."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    return order[:k]


def kcenter_greedy(emb: np.ndarray, k: int, centres: np.ndarray | None = None) -> np.ndarray:
    """Greedy k-center: repeatedly take the item farthest from every chosen/labelled centre."""
    n = emb.shape[0]
    k = min(k, n)
    if centres is not None and len(centres):
        mind = _min_sq_dist(emb, centres)
    else:
        mind = np.full(n, np.inf)
    chosen: list[int] = []
    for _ in range(k):
        i = int(np.argmax(mind))  # all-inf (no centres yet) picks the first item
        chosen.append(i)
        mind = np.minimum(mind, ((emb - emb[i]) ** 2).sum(axis=1))
        mind[chosen] = -1.0
    return np.asarray(chosen, dtype=int)


def _min_sq_dist(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Squared distance of each row of `a` to its nearest row of `b`, in chunks of `b`."""
    a2 = (a**2).sum(axis=1)
    out = np.full(a.shape[0], np.inf)
    for s in range(0, b.shape[0], chunk):
        bb = b[s : s + chunk]
        d = a2[:, None] - 2 * a @ bb.T + (bb**2).sum(axis=1)[None, :]
        out = np.minimum(out, d.min(axis=1))
    return np.maximum(out, 0.0)


def cluster_margin(
    uncertainty: np.ndarray, emb: np.ndarray, k: int, rng: np.random.Generator, beta: int = 10
) -> np.ndarray:
    """Weighted k-means over the ``beta*K`` most uncertain items; nearest item per centre."""
    from sklearn.cluster import KMeans

    cand = top_k(uncertainty, min(len(uncertainty), beta * k))
    if len(cand) <= k:
        return cand
    weights = np.asarray(uncertainty, dtype=float)[cand] + 1e-6
    # A few Lloyd iterations are enough to spread the batch; full convergence cost ~10x more.
    km = KMeans(n_clusters=k, n_init=1, max_iter=20, random_state=int(rng.integers(2**31)))
    km.fit(emb[cand], sample_weight=weights)
    chosen: list[int] = []
    taken = np.zeros(len(cand), dtype=bool)
    d = ((emb[cand][:, None, :] - km.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
    for c in range(k):
        order = np.argsort(d[:, c], kind="stable")
        i = next(int(j) for j in order if not taken[j])
        taken[i] = True
        chosen.append(i)
    return cand[np.asarray(chosen, dtype=int)]


def badge(probs: np.ndarray, emb: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on gradient embeddings of the cross-entropy w.r.t. the last layer."""
    from sklearn.cluster import kmeans_plusplus

    p = np.asarray(probs, dtype=float)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(p)), p.argmax(axis=1)] = 1.0
    g = ((p - onehot)[:, :, None] * emb[:, None, :]).reshape(len(p), -1)
    k = min(k, len(p))
    if not np.any(g):  # a certain model everywhere: nothing to spread over, fall back
        return rng.choice(len(p), size=k, replace=False)
    _, idx = kmeans_plusplus(g, n_clusters=k, random_state=int(rng.integers(2**31)))
    return np.asarray(idx, dtype=int)


def select(
    strategy: str,
    k: int,
    *,
    rng: np.random.Generator,
    probs: np.ndarray | None = None,
    uncertainty: np.ndarray | None = None,
    emb: np.ndarray | None = None,
    labelled_emb: np.ndarray | None = None,
) -> np.ndarray:
    """Pick `k` candidate indices (into the rows given) with `strategy`; never repeats one.

    Give `probs` (classification) or `uncertainty` (generation: one score per item); the
    diversity strategies also need `emb`, and `kcenter` uses `labelled_emb` as centres.
    """
    n = len(probs) if probs is not None else len(uncertainty) if uncertainty is not None else 0
    if n == 0 and emb is not None:
        n = len(emb)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=int)
    if strategy == "random":
        return np.sort(rng.choice(n, size=k, replace=False))
    if strategy in UNCERTAINTY:
        return top_k(_uncertainty(strategy, probs, uncertainty), k)
    if strategy == "cluster-margin":
        return cluster_margin(_uncertainty("margin", probs, uncertainty), _need(emb), k, rng)
    if strategy == "kcenter":
        return kcenter_greedy(_need(emb), k, labelled_emb)
    if strategy == "badge":
        if probs is None:
            raise ValueError("badge needs class probabilities")
        return badge(probs, _need(emb), k, rng)
    raise ValueError(f"unknown strategy {strategy!r}")


def _uncertainty(name: str, probs: np.ndarray | None, given: np.ndarray | None) -> np.ndarray:
    if probs is not None:
        return scoring.CLASS_SCORES[name](probs)
    if given is None:
        raise ValueError("need probs or uncertainty scores")
    return np.asarray(given, dtype=float)


def _need(emb: np.ndarray | None) -> np.ndarray:
    if emb is None:
        raise ValueError("this strategy needs embeddings")
    return np.asarray(emb, dtype=float)
