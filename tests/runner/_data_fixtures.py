"""Helpers for the data/recipe tests: write small data folders, build recipes.

Plain functions and constants, imported where needed (fixtures such as the tiny tokenizer
live in conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunetui.runner.recipe import Recipe

# The small LLaMA-Factory copy shipped with the tests (tests/fixtures/llamafactory/README.md);
# the same folder as the `lf_data` fixture, here for module-level parametrize lists.
LF_DATA = Path(__file__).resolve().parents[1] / "fixtures" / "llamafactory"


def write_json(path: Path, records: Any) -> Path:
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def data_dir(tmp: Path, entries: dict[str, dict], files: dict[str, Any]) -> Path:
    """A folder with a dataset_info.json and the given files (lists -> JSON arrays)."""
    for name, content in files.items():
        if isinstance(content, str):
            (tmp / name).write_text(content, encoding="utf-8")
        elif name.endswith(".jsonl"):
            write_jsonl(tmp / name, content)
        else:
            write_json(tmp / name, content)
    write_json(tmp / "dataset_info.json", entries)
    return tmp


def recipe(stage: str = "sft", datasets: list[str] | None = None, **data: Any) -> Recipe:
    """A default recipe for `stage` on `datasets` (the shipped identity set by default),
    with `data` fields set by name."""
    r = Recipe(stage=stage)
    r.data.datasets = datasets or ["identity"]
    for key, value in data.items():
        setattr(r.data, key, value)
    return r
