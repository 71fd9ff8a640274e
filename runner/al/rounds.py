"""`tunetui al train`: retrain on every label so far, measure, record a round.

A round is the learning curve's point (labels in hand, held-out metric) and, so that it
shows next to training runs, also a run directory `runs/round-NNN/` with an events.jsonl
(`start`, `eval`, `end`). What is trained and measured is the task kind's business
(`tasks`); training twice without new labels changes nothing and says so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tunetui.runner.al import state as st
from tunetui.runner.al.stopping import StopDecision
from tunetui.runner.al.tasks import task_kind


def train_round(project: str | Path, model: str | None = None) -> dict[str, Any]:
    """Retrain on every label so far, measure on the held-out set, record a round.

    Returns the round record plus ``stop`` (the stopping decision after it).
    """
    from tunetui.runner.events import EventWriter

    project = Path(project)
    state = st.load_state(project)
    if not state.needs_round():
        record = state.rounds[-1].model_dump(mode="json")
        record["note"] = "no new labels since this round; nothing retrained"
        record["stop"] = state.stop_decision().__dict__
        return record
    kind = task_kind(state.task)
    r = len(state.rounds)
    run_dir = project / "runs" / f"round-{r:03d}"
    run_dir.mkdir(parents=True, exist_ok=True)
    with EventWriter(run_dir / "events.jsonl") as ev:
        ev.emit(
            "start",
            run=f"{project.name}/round-{r:03d}",
            stage="al",
            method=kind.method,
            model=state.model or kind.method,
            total_steps=1,
            num_epochs=1,
        )
        metrics, kappa = kind.train(project, state, model)
        ev.emit("eval", step=r, metrics=metrics)
        ev.emit("end", step=r, metrics=metrics, output=None)
    record = st.Round(
        round=r,
        t=round(time.time(), 3),
        n_labels=len(state.labelled),
        metric_name=kind.metric_name,
        metric=metrics[kind.metric_name],
        metrics=metrics,
        kappa=kappa,
        run_dir=str(run_dir.relative_to(project)),
    )
    state.rounds.append(record)
    st.save_state(project, state)
    return {**record.model_dump(mode="json"), "stop": state.stop_decision().__dict__}


def stop_decision(project: str | Path) -> StopDecision:
    """The stopping decision for the project as it is on disk."""
    return st.load_state(project).stop_decision()
