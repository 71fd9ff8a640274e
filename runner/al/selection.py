"""`tunetui al select`: score the pool, pick K items, send them out for labelling.

The batch is written twice, as `to_label.jsonl` (scripts) and `to_label.csv` (people, with
an empty `label` column), and its ids are marked in flight so that no later batch sends
them again before their labels come back. How the pool is scored is the task kind's
business (`tasks`); this module is the part both kinds share.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError, did_you_mean
from tunetui.runner.al import state as st
from tunetui.runner.al.io import write_csv, write_jsonl
from tunetui.runner.al.llmscore import Progress
from tunetui.runner.al.tasks import Batch, task_kind

CSV_FIELDS = ["id", "text", "guess", "score", "label"]


def select_batch(
    project: str | Path,
    k: int,
    strategy: str = "margin",
    model: str | None = None,
    max_new_tokens: int = 32,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Score the pool, pick K items, write to_label.jsonl/.csv and mark them in flight."""
    import numpy as np

    project = Path(project)
    state = st.load_state(project)
    kind = task_kind(state.task)
    if k < 1:
        raise UserError(f"--k {k} must be at least 1", "Ask for a positive batch size.")
    if strategy not in kind.strategies:
        allowed = kind.strategies
        hint = did_you_mean(strategy, allowed) or "Choose one of: " + ", ".join(allowed) + "."
        raise UserError(f"unknown strategy '{strategy}' for task {state.task}", hint)
    pool = st.load_pool(project)
    taken = set(state.labelled) | set(state.in_flight)
    candidates = [i for i in pool if i not in taken]
    if not candidates:
        raise UserError("nothing left to label in the pool", "Every item is labelled or in flight.")
    # Seeded by the project and the round, so a repeated `select` picks the same batch.
    rng = np.random.default_rng([state.seed, len(state.selections)])
    batch = Batch(
        project, state, pool, candidates, k, strategy, rng, model, max_new_tokens, progress
    )
    rows = kind.select(batch)

    write_jsonl(project / st.TO_LABEL_JSONL, rows)
    write_csv(project / st.TO_LABEL_CSV, [{**r, "label": ""} for r in rows], CSV_FIELDS)
    ids = [r["id"] for r in rows]
    state.in_flight += ids
    state.selections.append(
        st.Selection(
            t=round(time.time(), 3),
            strategy=strategy,
            k=k,
            ids=ids,
            after_round=len(state.rounds) - 1,
        )
    )
    st.save_state(project, state)
    return rows
