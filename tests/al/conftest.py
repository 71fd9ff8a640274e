"""Toy data for the active-learning tests: two obvious classes, hand-made sentences."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

POS = ["great", "wonderful", "excellent", "superb", "lovely", "brilliant"]
NEG = ["awful", "terrible", "boring", "dreadful", "bad", "poor"]
FILL = ["movie", "film", "plot", "acting", "story", "cast", "score", "ending"]


def _sentence(rng: random.Random, label: str) -> str:
    words = POS if label == "pos" else NEG
    return (
        f"the {rng.choice(FILL)} was {rng.choice(words)} and {rng.choice(FILL)} {rng.choice(words)}"
    )


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def make_sentence():
    """The toy sentence maker, for tests that build their own arrays."""
    return _sentence


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Path]:
    """pool.jsonl (120 ids, no labels), seed.jsonl (12 labelled), oracle.jsonl (all labels)."""
    rng = random.Random(0)
    labels = [rng.choice(["pos", "neg"]) for _ in range(120)]
    pool = [{"id": f"x{i}", "text": _sentence(rng, y)} for i, y in enumerate(labels)]
    seed = [{"text": _sentence(rng, y), "label": y} for y in ["pos", "neg"] * 6]
    oracle = [{"id": f"x{i}", "label": y} for i, y in enumerate(labels)]
    return {
        "pool": _write(tmp_path / "pool.jsonl", pool),
        "seed": _write(tmp_path / "seed.jsonl", seed),
        "oracle": _write(tmp_path / "oracle.jsonl", oracle),
        "project": tmp_path / "proj",
        "tmp": tmp_path,
    }
