"""Toy text for the active-learning tests: two obvious classes, hand-made sentences.

Shared by `tests/al` (its conftest) and the AL screen's tests in `tests/tui`, which import
it as ``al.toytext`` (``tests/`` is on the path), so both build projects from the same data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

POS = ["great", "wonderful", "excellent", "superb", "lovely", "brilliant"]
NEG = ["awful", "terrible", "boring", "dreadful", "bad", "poor"]
FILL = ["movie", "film", "plot", "acting", "story", "cast", "score", "ending"]


def sentence(rng: random.Random, label: str) -> str:
    """A sentence whose two sentiment words give its label ("pos" or "neg") away."""
    words = POS if label == "pos" else NEG
    return (
        f"the {rng.choice(FILL)} was {rng.choice(words)} and {rng.choice(FILL)} {rng.choice(words)}"
    )


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """One JSON object per line; returns `path`."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
