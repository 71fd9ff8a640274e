"""The AL project directory and its `state.json`, as one typed `ProjectState`.

Layout of a project directory::

    state.json      task, fields, label set, stop rules, labelled ids -> labels,
                    in-flight ids, selections, rounds (metric per round)
    pool.jsonl      every item: {"id", "text"} (seed items included)
    heldout.jsonl   {"id", "text", "label"}: the metric is measured here, never selected
    to_label.jsonl  the latest batch to label (+ to_label.csv for spreadsheets)
    runs/round-NNN/   one run per `train`: the proxy learner writes events.jsonl only;
                      the LLM learner's round is a real tunetui run (recipe, checkpoints,
                      adapter/) plus scores/ (the pool's scores, saved per chunk)
    recipe.yaml       the LLM learner's recipe template (each round's run is made from it)
    data/round-NNN.jsonl  the labels a round trained on (its data hash is recorded)
    labelling.json    the labeller's answers in flight (`tunetui al label`), saved per key

`state.json` is the single source of truth and is rewritten atomically, so an interrupted
command leaves the previous consistent state behind. It is read and written only here
(`load_state` / `save_state`): the model validates a hand-edited file once, so the verbs
work on typed fields instead of guessing at dict keys. Keys this version does not know are
kept and written back, so a newer file is not silently thinned by an older tunetui.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tunetui.planner.errors import UserError
from tunetui.runner.al.io import read_rows, write_json
from tunetui.runner.al.stopping import StopDecision, StopRules, decide

STATE_FILE = "state.json"
POOL_FILE = "pool.jsonl"
HELDOUT_FILE = "heldout.jsonl"
TO_LABEL_JSONL = "to_label.jsonl"
TO_LABEL_CSV = "to_label.csv"
RECIPE_FILE = "recipe.yaml"
LABELLING_FILE = "labelling.json"
LEARNERS = ("llm", "proxy")
STATE_VERSION = 1


class Selection(BaseModel):
    """One `select`: which ids went out, with which strategy, after which round."""

    model_config = ConfigDict(extra="allow")

    t: float = 0.0
    strategy: str
    k: int
    ids: list[str]
    after_round: int = -1


class Round(BaseModel):
    """One `train`: labels in hand and the held-out metric (the learning curve's point)."""

    model_config = ConfigDict(extra="allow")

    round: int
    t: float = 0.0
    n_labels: int
    metric_name: str
    metric: float
    metrics: dict[str, float] = Field(default_factory=dict)
    kappa: float | None = None
    run_dir: str | None = None
    # The LLM learner's record (None for the proxy): where the round's weights started
    # ("base" or "round-NNN"), wall time, accelerator time, and what it trained on.
    learner: str = "proxy"
    warm_start_from: str | None = None
    seconds: float | None = None
    gpu_seconds: float | None = None
    data_hash: str | None = None
    recipe_hash: str | None = None


class ProjectState(BaseModel):
    """Everything `state.json` holds; field order is the file's key order."""

    model_config = ConfigDict(extra="allow")

    version: int = STATE_VERSION
    created: float = Field(default_factory=lambda: round(time.time(), 3))
    task: str
    text_field: str = "text"
    label_field: str = "label"
    labels: list[str] | None = None  # the label set (classify); None for generate
    model: str | None = None
    seed: int = 0
    rules: StopRules = Field(default_factory=StopRules)
    labelled: dict[str, str] = Field(default_factory=dict)
    seed_ids: list[str] = Field(default_factory=list)
    in_flight: list[str] = Field(default_factory=list)
    selections: list[Selection] = Field(default_factory=list)
    rounds: list[Round] = Field(default_factory=list)
    stop_set: list[str] = Field(default_factory=list)  # fixed unlabelled ids for kappa
    stop_preds: list[str] | None = None  # the last round's predictions on the stop set
    pool_size: int | None = None
    unmatched_seed_ids: int = 0
    # Added after version 1's first files (so they come last, and an older file loads as
    # the proxy learner). proxy: TF-IDF + logistic regression (classify) or a fixed LM
    # (generate), a second per round; llm: every round fine-tunes `model` through the
    # runner and scores the pool with it.
    learner: str = "proxy"
    warm_start: bool = False  # llm: round N+1 starts from round N's weights, not the base
    prompt: str | None = None  # llm classify: the template a text is asked with ({text})

    @property
    def n_spent(self) -> int:
        """Labels bought after the seed set."""
        return len(self.labelled) - len(self.seed_ids)

    def needs_round(self) -> bool:
        """True when labels arrived since the last round (or there is no round yet)."""
        return not self.rounds or self.rounds[-1].n_labels != len(self.labelled)

    def merge(self, labels: dict[str, str]) -> None:
        """Record validated labels; their ids are no longer in flight."""
        self.labelled.update(labels)
        self.in_flight = [i for i in self.in_flight if i not in labels]

    def stop_decision(self) -> StopDecision:
        """The stopping rules applied to the rounds so far."""
        return decide(
            len(self.labelled),
            [r.metric for r in self.rounds],
            [r.kappa for r in self.rounds],
            self.rules,
        )


def load_state(project: str | Path) -> ProjectState:
    """Read `state.json`; a missing, foreign or damaged file is a `UserError` with the fix."""
    path = Path(project) / STATE_FILE
    if not path.is_file():
        raise UserError(
            f"{project} is not an active-learning project (no {STATE_FILE})",
            f"Create one with `tunetui al init {project} --pool POOL --seed-labels LABELLED`.",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(
            f"{path} is not valid JSON ({err.msg})", "Restore it or re-run init."
        ) from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise UserError(f"{path}: unsupported state version", "Re-run `tunetui al init`.")
    try:
        return ProjectState.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(
            f"{path} is damaged ({where}: {first['msg']})", "Restore it or re-run init."
        ) from None


def save_state(project: str | Path, state: ProjectState) -> None:
    """Write `state.json` atomically (the last step of every verb)."""
    write_json(Path(project) / STATE_FILE, state_dict(state))


def state_dict(state: ProjectState) -> dict[str, Any]:
    """The JSON object of `state.json` (also what `--json` outputs are built from)."""
    return state.model_dump(mode="json")


def load_pool(project: str | Path) -> dict[str, str]:
    """id -> text for every pool item, in file order."""
    return {str(r["id"]): str(r["text"]) for _, r in read_rows(Path(project) / POOL_FILE)}


def load_heldout(project: str | Path) -> list[dict[str, Any]]:
    """The held-out rows ({"id", "text", "label"}) the metric is measured on."""
    return [r for _, r in read_rows(Path(project) / HELDOUT_FILE)]
