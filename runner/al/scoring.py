"""Uncertainty scores: higher always means "more worth labelling".

Class-probability scores (classification):
- `entropy`: ``-sum p log p`` (nats).
- `margin` ("breaking ties", Scheffer et al. 2001; Luo et al. 2005): ``1 - (p1 - p2)``
  where p1, p2 are the two largest probabilities.
- `least_confidence`: ``1 - max p``; for one-token labels this is what MNLP reduces to.

Sequence scores (generation, from the per-step scores of the generated tokens):
- `mean_token_entropy`: mean over steps of the entropy of the next-token distribution.
- `mnlp` (Shen et al. 2017, maximum normalised log-probability): ``-(1/T) sum log p(y_t)``,
  negated so that the least likely outputs score highest.

Only numpy here, so these are cheap to test by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_probs(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2:
        raise ValueError("probabilities must be a 2-D array (items x classes)")
    return p


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy per row, in nats; 0 log 0 is taken as 0."""
    p = _as_probs(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -(p * logs).sum(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """``1 - (p1 - p2)``: 1 for a tie between the two top classes, 0 for a certain one."""
    p = _as_probs(probs)
    if p.shape[1] < 2:
        return np.zeros(p.shape[0])
    top2 = -np.partition(-p, 1, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """``1 - max p``."""
    return 1.0 - _as_probs(probs).max(axis=1)


def mean_token_entropy(step_entropies: Sequence[float]) -> float:
    """Mean over generation steps of the next-token entropy (nats); 0 for no steps.

    The per-step entropies come from the model side (`inference.generate_greedy` with
    ``scores=True``), which reduces each vocabulary-wide row to one number on the device.
    """
    e = np.asarray(step_entropies, dtype=float)
    return float(e.mean()) if e.size else 0.0


def mnlp(token_logprobs: Sequence[float] | np.ndarray) -> float:
    """Negated length-normalised log-probability of the generated tokens."""
    lp = np.asarray(token_logprobs, dtype=float)
    return float(-lp.mean()) if lp.size else 0.0


CLASS_SCORES = {"entropy": entropy, "margin": margin, "mnlp": least_confidence}
