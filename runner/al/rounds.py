"""`tunetui al train`: retrain on every label so far, measure, record a round.

A round is the learning curve's point (labels in hand, held-out metric, stop-set kappa,
time and GPU-seconds) and also a run directory `runs/round-NNN/`, so rounds show next to
training runs. With the LLM learner the round *is* a tunetui run (`llm`: fine-tuned
through the launcher, stoppable and resumable); with the proxy learner the folder holds
an events.jsonl (`start`, `eval`, `end`) for a fit that takes about a second. What is
trained and measured otherwise is the task kind's business (`tasks`). Training twice
without new labels changes nothing and says so. Each round is logged to the loggers of
the project's recipe (`roundlog`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tunetui.runner.al import state as st
from tunetui.runner.al.llmscore import Progress
from tunetui.runner.al.stopping import StopDecision
from tunetui.runner.al.tasks import task_kind


def train_round(
    project: str | Path, model: str | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Retrain on every label so far, measure on the held-out set, record a round.

    Returns the round record plus ``stop`` (the stopping decision after it).
    """
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
    t0 = time.time()
    if state.learner == "llm":
        from tunetui.runner.al.llm import train_llm_round

        metrics, kappa, extra = train_llm_round(project, state, r, progress)
    else:
        metrics, kappa = _proxy_round(project, state, r, run_dir, model)
        extra = {"seconds": round(time.time() - t0, 2), "gpu_seconds": 0.0}
    record = st.Round(
        round=r,
        t=round(time.time(), 3),
        n_labels=int(extra.pop("n_trained", len(state.labelled))),
        metric_name=kind.metric_name,
        metric=metrics[kind.metric_name],
        metrics=metrics,
        kappa=kappa,
        run_dir=str(run_dir.relative_to(project)),
        **extra,
    )
    state.rounds.append(record)
    st.save_state(project, state)
    from tunetui.runner.al.roundlog import log_round

    log_round(project, state, record)
    return {**record.model_dump(mode="json"), "stop": state.stop_decision().__dict__}


def _proxy_round(
    project: Path, state: st.ProjectState, r: int, run_dir: Path, model: str | None
) -> tuple[dict[str, float], float | None]:
    """The proxy learner's fit and measure, written as a one-step run's events."""
    from tunetui.runner.events import EventWriter

    kind = task_kind(state.task)
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
    return metrics, kappa


def stop_decision(project: str | Path) -> StopDecision:
    """The stopping decision for the project as it is on disk."""
    return st.load_state(project).stop_decision()
