"""Uncertainty scores on hand-checkable probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tunetui.runner.al import scoring

P = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3]])


def test_entropy_by_hand() -> None:
    want = [
        math.log(2),
        0.0,
        -(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1)),
        math.log(3),
    ]
    assert scoring.entropy(P) == pytest.approx(want)


def test_margin_by_hand() -> None:
    # 1 - (p1 - p2): a tie scores 1, a certain item 0.
    assert scoring.margin(P) == pytest.approx([1.0, 0.0, 0.7, 1.0])


def test_least_confidence_by_hand() -> None:
    assert scoring.least_confidence(P) == pytest.approx([0.5, 0.0, 0.4, 2 / 3])


def test_sequence_scores_by_hand() -> None:
    # Two steps: a uniform 2-way choice (entropy ln 2) and a certain one (0).
    assert scoring.mean_token_entropy([math.log(2), 0.0]) == pytest.approx(math.log(2) / 2)
    assert scoring.mean_token_entropy([]) == 0.0
    assert scoring.mnlp(np.log([0.5, 1.0])) == pytest.approx(math.log(2) / 2)
    assert scoring.mnlp(np.array([])) == 0.0
