"""`al_status(project_dir) -> dict`: everything a status view needs, as plain data.

The CLI prints it as a table and a plotext curve; a TUI screen can render the same dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunetui.runner.al import state as st
from tunetui.runner.al.stopping import decide


def al_status(project_dir: str | Path) -> dict[str, Any]:
    """Rounds, labels spent, metric per round, in-flight items and the stopping decision."""
    state = st.load_state(project_dir)
    rounds = state["rounds"]
    decision = decide(
        len(state["labelled"]),
        [r["metric"] for r in rounds],
        [r.get("kappa") for r in rounds],
        st.rules_of(state),
    )
    n_labelled = len(state["labelled"])
    return {
        "project": str(project_dir),
        "task": state["task"],
        "labels": state["labels"],
        "pool_size": state.get("pool_size"),
        "n_seed": len(state["seed_ids"]),
        "n_labelled": n_labelled,
        "n_spent": n_labelled - len(state["seed_ids"]),
        "n_in_flight": len(state["in_flight"]),
        "n_unlabelled": (state.get("pool_size") or 0) - n_labelled - len(state["in_flight"]),
        "budget": state["rules"].get("budget"),
        "metric_name": rounds[-1]["metric_name"] if rounds else None,
        "rounds": [
            {k: r.get(k) for k in ("round", "n_labels", "metric", "metrics", "kappa", "run_dir")}
            for r in rounds
        ],
        "selections": [
            {"strategy": s["strategy"], "k": s["k"], "n": len(s["ids"])}
            for s in state["selections"]
        ],
        "stop": decision.__dict__,
        "rules": state["rules"],
    }
