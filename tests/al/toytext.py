"""Toy text and toy projects for the active-learning tests: two obvious classes.

Shared by `tests/al` and the AL screen's tests in `tests/tui`, which import it as
``al.toytext`` (``tests/`` is on the path), so both build projects from the same data,
through the `runner.al` API, i.e. the files the CLI really writes.
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


def toy_project(tmp_path: Path) -> dict:
    """A fresh AL project on 60 two-class sentences (12 seed labels, budget 40), and the
    answers: {"project", "answers", "tmp"}."""
    from tunetui.runner.al.create import init_project
    from tunetui.runner.al.stopping import StopRules

    rng = random.Random(0)
    answers = {f"x{i}": rng.choice(["pos", "neg"]) for i in range(60)}
    pool = write_jsonl(
        tmp_path / "pool.jsonl", [{"id": i, "text": sentence(rng, y)} for i, y in answers.items()]
    )
    seed = write_jsonl(
        tmp_path / "seed.jsonl",
        [{"text": sentence(rng, y), "label": y} for y in ["pos", "neg"] * 6],
    )
    project = tmp_path / "proj"
    init_project(project, pool, seed, rules=StopRules(budget=40))
    return {"project": project, "answers": answers, "tmp": tmp_path}


def label_batch(toy: dict, rows: list[dict], n: int | None = None) -> int:
    """Answer the first `n` selected items through a label file, as a person would."""
    from tunetui.runner.al.labels import import_labels

    done = [{"id": r["id"], "label": toy["answers"][r["id"]]} for r in rows[:n]]
    return import_labels(toy["project"], write_jsonl(toy["tmp"] / "labels.jsonl", done))


def run_rounds(toy: dict, n: int, k: int = 4) -> list[dict]:
    """Train, then `n` x (select k, label them, train); finally select the next batch of 6."""
    from tunetui.runner.al.rounds import train_round
    from tunetui.runner.al.selection import select_batch

    train_round(toy["project"])
    for _ in range(n):
        label_batch(toy, select_batch(toy["project"], k))
        train_round(toy["project"])
    return select_batch(toy["project"], 6)
