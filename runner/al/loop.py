"""`tunetui al loop`: the whole loop unattended, labelling from a file of known labels.

It runs the same steps a person would (train, select, label, train ...) through the
project files, so a simulated project can be inspected, resumed or continued by hand, and
it stops on the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.labels import read_oracle, validate_labels
from tunetui.runner.al.llmscore import Progress
from tunetui.runner.al.rounds import stop_decision, train_round
from tunetui.runner.al.selection import select_batch
from tunetui.runner.al.stopping import StopDecision

OnRound = Callable[[dict[str, Any]], None]


def run_loop(
    project: str | Path,
    oracle: str | Path,
    rounds: int = 10,
    k: int = 50,
    strategy: str = "margin",
    budget: int | None = None,
    model: str | None = None,
    on_round: OnRound | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Unattended loop against known labels: train, select K, label from the oracle, repeat.

    Stops after `rounds` selections, or earlier when a stopping rule fires; `budget`
    overrides the project's budget. Returns {"rounds": [...], "stop": {...}}.
    """
    project = Path(project)
    state = st.load_state(project)
    if budget is not None:
        state.rules = replace(state.rules, budget=budget)
        st.save_state(project, state)
    answers = read_oracle(oracle, state)
    records: list[dict[str, Any]] = []

    def train() -> None:
        records.append(train_round(project, model, progress))
        if on_round:
            on_round(records[-1])

    if state.needs_round():
        train()
    decision = stop_decision(project)
    for _ in range(rounds):
        if decision.stop:
            break
        _label_batch(project, answers, Path(oracle).name, k, strategy, model, progress)
        train()
        decision = stop_decision(project)
    if not decision.stop:
        decision = StopDecision(
            False, "rounds", f"stopped after {rounds} rounds (--rounds); no rule fired"
        )
    return {"rounds": records, "stop": decision.__dict__}


def _label_batch(
    project: Path,
    answers: dict[str, str],
    oracle_name: str,
    k: int,
    strategy: str,
    model: str | None,
    progress: Progress | None = None,
) -> None:
    """Select up to K (never past the budget) and merge the oracle's labels for them."""
    state = st.load_state(project)
    left = state.rules.budget
    k_now = k if left is None else min(k, left - len(state.labelled))
    rows = select_batch(project, k_now, strategy, model=model, progress=progress)
    missing = [r["id"] for r in rows if r["id"] not in answers]
    if missing:
        raise UserError(
            f"the oracle has no label for id '{missing[0]}' ({len(missing)} missing)",
            "Give an oracle file that labels the whole pool.",
        )
    state = st.load_state(project)
    given = [(0, {"id": r["id"], "label": answers[r["id"]]}) for r in rows]
    state.merge(validate_labels(state, given, oracle_name, {r["id"] for r in rows}))
    st.save_state(project, state)
