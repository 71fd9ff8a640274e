"""Fixtures for the active-learning tests, on the toy text of `toytext`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from al.toytext import sentence as _sentence
from al.toytext import write_jsonl as _write


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
