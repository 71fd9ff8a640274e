"""The AL project directory and its `state.json`.

Layout of a project directory::

    state.json      task, fields, label set, stop rules, labelled ids -> labels,
                    in-flight ids, selections, rounds (metric per round)
    pool.jsonl      every item: {"id", "text"} (seed items included)
    heldout.jsonl   {"id", "text", "label"}: the metric is measured here, never selected
    to_label.jsonl  the latest batch to label (+ to_label.csv for spreadsheets)
    runs/round-NNN/events.jsonl   one run per `train`, in the event protocol

`state.json` is the single source of truth and is rewritten atomically, so an interrupted
command leaves the previous consistent state behind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.al.io import read_rows, write_json
from tunetui.runner.al.stopping import StopRules

STATE_FILE = "state.json"
POOL_FILE = "pool.jsonl"
HELDOUT_FILE = "heldout.jsonl"
TO_LABEL_JSONL = "to_label.jsonl"
TO_LABEL_CSV = "to_label.csv"
STATE_VERSION = 1


def new_state(
    task: str,
    text_field: str,
    label_field: str,
    labels: list[str] | None,
    model: str | None,
    rules: StopRules,
    seed: int,
) -> dict[str, Any]:
    """A fresh state with no rounds yet."""
    return {
        "version": STATE_VERSION,
        "created": round(time.time(), 3),
        "task": task,
        "text_field": text_field,
        "label_field": label_field,
        "labels": labels,
        "model": model,
        "seed": seed,
        "rules": rules.__dict__.copy(),
        "labelled": {},
        "seed_ids": [],
        "in_flight": [],
        "selections": [],
        "rounds": [],
        "stop_set": [],
        "stop_preds": None,
    }


def load_state(project: str | Path) -> dict[str, Any]:
    """Read `state.json`; a missing or foreign file is a `UserError` with the fix."""
    path = Path(project) / STATE_FILE
    if not path.is_file():
        raise UserError(
            f"{project} is not an active-learning project (no {STATE_FILE})",
            f"Create one with `tunetui al init {project} --pool POOL --seed-labels LABELLED`.",
        )
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(
            f"{path} is not valid JSON ({err.msg})", "Restore it or re-run init."
        ) from None
    if state.get("version") != STATE_VERSION:
        raise UserError(f"{path}: unsupported state version", "Re-run `tunetui al init`.")
    return state


def save_state(project: str | Path, state: dict[str, Any]) -> None:
    write_json(Path(project) / STATE_FILE, state)


def rules_of(state: dict[str, Any]) -> StopRules:
    return StopRules(**state["rules"])


def load_pool(project: str | Path) -> dict[str, str]:
    """id -> text for every pool item, in file order."""
    return {str(r["id"]): str(r["text"]) for _, r in read_rows(Path(project) / POOL_FILE)}


def load_heldout(project: str | Path) -> list[dict[str, Any]]:
    return [r for _, r in read_rows(Path(project) / HELDOUT_FILE)]
