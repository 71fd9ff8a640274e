"""`al_status(project_dir) -> dict`: everything a status view needs, as plain data.

The CLI prints it as a table and a plotext curve (`--json` prints the dict itself), and
the TUI screen renders the same dict. Light: no numpy, so `tunetui al status` and the
screen work on an install without the `al` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunetui.runner.al import state as st

ROUND_KEYS = {
    "round", "n_labels", "metric", "metrics", "kappa", "run_dir", "learner", "warm_start_from",
    "seconds", "gpu_seconds", "data_hash",
}  # fmt: skip


def al_status(project_dir: str | Path) -> dict[str, Any]:
    """Rounds, labels spent, metric per round, in-flight items and the stopping decision."""
    state = st.load_state(project_dir)
    rounds = state.rounds
    n_labelled = len(state.labelled)
    return {
        "project": str(project_dir),
        "task": state.task,
        "learner": state.learner,
        "model": state.model,
        "labels": state.labels,
        "pool_size": state.pool_size,
        "n_seed": len(state.seed_ids),
        "n_labelled": n_labelled,
        "n_spent": state.n_spent,
        "n_in_flight": len(state.in_flight),
        "n_unlabelled": (state.pool_size or 0) - n_labelled - len(state.in_flight),
        "budget": state.rules.budget,
        "metric_name": rounds[-1].metric_name if rounds else None,
        "rounds": [r.model_dump(mode="json", include=ROUND_KEYS) for r in rounds],
        "selections": [
            {"strategy": s.strategy, "k": s.k, "n": len(s.ids)} for s in state.selections
        ],
        "stop": state.stop_decision().__dict__,
        "rules": state.rules.__dict__.copy(),
    }
