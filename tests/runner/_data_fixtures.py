"""Helpers for the data/recipe tests: write small data folders, build recipes, a tokenizer.

Not a conftest (that file belongs to the whole runner suite): import what you need.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunetui.runner.recipe import Recipe

LF_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "llamafactory"


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
    r = Recipe(stage=stage)
    r.data.datasets = datasets or ["identity"]
    for key, value in data.items():
        setattr(r.data, key, value)
    return r


def tiny_tokenizer() -> Any:
    """The project's tiny byte-level BPE tokenizer (ChatML template)."""
    from tunetui.runner.train.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()
