"""`tunetui al init`: a project from an unlabelled pool and a labelled seed set.

Every input is read and checked before anything is written, and `state.json` is written
last, so a bad pool or seed file leaves no half-made project. The held-out split and the
stop set are drawn from the project seed, so the same inputs give the same project.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError, did_you_mean
from tunetui.runner.al import state as st
from tunetui.runner.al.io import atomic_write_text, read_rows, write_jsonl
from tunetui.runner.al.stopping import StopRules
from tunetui.runner.al.tasks import TASKS, task_kind
from tunetui.runner.userfiles import check_writable

STOP_SET_SIZE = 1000  # unlabelled items whose predictions the kappa rule compares

# The LLM learner's recipe when `--recipe` is not given: LoRA, a few epochs over the
# (small) labelled set, short sequences (one text and one label word), a checkpoint every
# 50 steps so a stopped round resumes close to where it was. 4 epochs at lr 1e-3: on tens of
# labels (bench/active_learning_llm.py, SmolLM2-135M) 3 epochs at the SFT default learnt only
# the answer format, every item the same label; 4 epochs at 1e-3 reached 0.75 macro-F1 on 16.
ROUND_RECIPE = {
    "method": "lora", "epochs": 4.0, "lr": 1e-3, "cutoff_len": 256, "batch": 4,
    "grad_accum": 1, "save_steps": 50, "logging_steps": 5,
}  # fmt: skip


@dataclass
class LearnerOptions:
    """How the project learns: `llm` (fine-tune `model` every round) or `proxy`.

    `learner` None means llm when a model is given, else proxy. `recipe` is a recipe file
    to start from (its name, data, model and output are set per round); without it the
    round recipe is `ROUND_RECIPE` with `report_to`.
    """

    learner: str | None = None
    warm_start: bool = False
    recipe: str | Path | None = None
    prompt: str | None = None
    report_to: list[str] = field(default_factory=lambda: ["none"])

    def resolved(self, model: str | None) -> str:
        return self.learner or ("llm" if model else "proxy")

    def check(self, model: str | None) -> None:
        if self.learner is not None and self.learner not in st.LEARNERS:
            raise UserError(f"unknown learner '{self.learner}'", "Use --learner llm or proxy.")
        if self.resolved(model) == "llm" and not model:
            raise UserError("the LLM learner needs a model", "Pass --model (or --learner proxy).")
        if self.prompt is not None and "{text}" not in self.prompt:
            raise UserError("--prompt has no {text} placeholder", "Put {text} where the item goes.")

    def recipe_text(self, model: str | None, seed: int) -> str:
        """The project's recipe template, as YAML."""
        from tunetui.runner.flags import recipe_from_flags
        from tunetui.runner.recipe_io import dump_recipe, load_recipe

        if self.recipe is not None:
            base = load_recipe(Path(self.recipe))
            return dump_recipe(base.model_copy(update={"output_dir": None}))
        recipe = recipe_from_flags(
            recommend=False, name="al-round", model=model, report_to=self.report_to, seed=seed,
            **ROUND_RECIPE,
        )  # fmt: skip
        return dump_recipe(recipe)


def init_project(
    project: str | Path,
    pool: str | Path,
    seed_labels: str | Path,
    task: str = "classify",
    text_field: str = "text",
    label_field: str = "label",
    heldout: str | Path | None = None,
    heldout_frac: float = 0.2,
    labels: list[str] | None = None,
    model: str | None = None,
    rules: StopRules | None = None,
    seed: int = 0,
    overwrite: bool = False,
    learner: LearnerOptions | None = None,
) -> st.ProjectState:
    """Create a project from an unlabelled pool and a labelled seed set; return the state."""
    import numpy as np

    project = Path(project)
    learn = learner or LearnerOptions()
    _check_options(project, task, heldout_frac, model, overwrite)
    learn.check(model)
    pool_items = _read_texts(pool, text_field)
    seed_rows = _read_labelled(seed_labels, text_field, label_field, prefix="s")
    rng = np.random.default_rng(seed)
    if heldout is not None:
        held = _read_labelled(heldout, text_field, label_field, prefix="h")
    else:
        held, seed_rows = _split_heldout(seed_rows, heldout_frac, rng)
    if not held:
        raise UserError(
            "no held-out labels to measure the model on",
            "Pass --heldout FILE or a --heldout-frac > 0 with enough seed labels.",
        )
    found = sorted({r["label"] for r in seed_rows + held})
    state = st.ProjectState(
        task=task,
        text_field=text_field,
        label_field=label_field,
        labels=task_kind(task).label_set(found, labels),
        model=model,
        learner=learn.resolved(model),
        warm_start=learn.warm_start,
        prompt=learn.prompt,
        seed=seed,
        rules=rules or StopRules(),
    )
    texts = _fill_labels(state, dict(pool_items), seed_rows, held)
    unlabelled = [i for i in texts if i not in state.labelled]
    if not unlabelled:
        raise UserError("the pool has no unlabelled items", "Give a --pool with items to label.")
    state.stop_set = _stop_set(unlabelled, rng)
    state.pool_size = len(texts)
    seen_ids = {i for i, _ in pool_items}
    state.unmatched_seed_ids = len([r for r in seed_rows if r["id"] not in seen_ids])
    recipe = learn.recipe_text(model, state.seed) if state.learner == "llm" else None
    _write_project(project, overwrite, texts, held, state, recipe)
    return state


def _stop_set(unlabelled: list[str], rng: Any) -> list[str]:
    """A seeded sample of unlabelled ids, in pool order, for the kappa stopping rule."""
    n_stop = min(STOP_SET_SIZE, len(unlabelled))
    return [unlabelled[i] for i in sorted(rng.choice(len(unlabelled), n_stop, replace=False))]


def _check_options(
    project: Path, task: str, heldout_frac: float, model: str | None, overwrite: bool
) -> None:
    if task not in TASKS:
        raise UserError(
            f"unknown task '{task}'", did_you_mean(task, TASKS) or "Use classify or generate."
        )
    if (project / st.STATE_FILE).exists() and not overwrite:
        raise UserError(f"{project} already holds an AL project", "Pass --overwrite to start over.")
    check_writable(project, "project folder", "Choose another project folder")
    if not 0.0 <= heldout_frac < 1.0:
        raise UserError(f"--heldout-frac {heldout_frac} is out of range", "Use a value in [0, 1).")
    if model is not None:
        from tunetui.runner.modelpath import check_model

        check_model(model)  # an embedded id, a local HF folder or a cached hub id


def _split_heldout(
    seed_rows: list[dict[str, Any]], frac: float, rng: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(held out, kept as seed labels): a seeded random `frac` of the seed labels."""
    n_held = int(round(frac * len(seed_rows)))
    if n_held >= len(seed_rows):
        raise UserError("the held-out split would take every seed label", "Lower --heldout-frac.")
    order = rng.permutation(len(seed_rows))
    held = [seed_rows[i] for i in sorted(order[:n_held])]
    return held, [seed_rows[i] for i in sorted(order[n_held:])]


def _fill_labels(
    state: st.ProjectState,
    texts: dict[str, str],
    seed_rows: list[dict[str, Any]],
    held: list[dict[str, Any]],
) -> dict[str, str]:
    """Seed labels into the state; held-out items out of the pool (never selectable)."""
    held_ids = set()
    for r in held:
        texts.pop(r["id"], None)
        held_ids.add(r["id"])
    for r in seed_rows:
        if r["id"] in held_ids:
            raise UserError(f"id '{r['id']}' is both a seed label and held out", "Remove one.")
        texts.setdefault(r["id"], r["text"])
        state.labelled[r["id"]] = r["label"]
    state.seed_ids = list(state.labelled)
    return texts


def _write_project(
    project: Path,
    overwrite: bool,
    texts: dict[str, str],
    held: list[dict[str, Any]],
    state: st.ProjectState,
    recipe: str | None,
) -> None:
    if project.exists() and overwrite:
        for name in (st.TO_LABEL_JSONL, st.TO_LABEL_CSV, st.RECIPE_FILE, st.LABELLING_FILE):
            (project / name).unlink(missing_ok=True)
        for folder in ("runs", "data", "models", "tensorboard"):
            shutil.rmtree(project / folder, ignore_errors=True)
    project.mkdir(parents=True, exist_ok=True)
    if recipe is not None:
        atomic_write_text(project / st.RECIPE_FILE, recipe)
    write_jsonl(project / st.POOL_FILE, ({"id": i, "text": t} for i, t in texts.items()))
    write_jsonl(project / st.HELDOUT_FILE, held)
    st.save_state(project, state)


def _read_texts(path: str | Path, text_field: str) -> list[tuple[str, str]]:
    """(id, text) of every pool row; ids default to `p<line>` and must be unique."""
    items: list[tuple[str, str]] = []
    seen: set[str] = set()
    name = Path(path).name
    for n, row in read_rows(path):
        if text_field not in row or row[text_field] in (None, ""):
            raise UserError(f'{name} line {n}: missing "{text_field}"', "Use --text-field.")
        items.append((_unique_id(row, f"p{n}", seen, name, n), str(row[text_field])))
    if not items:
        raise UserError(f"{name} is empty", "Give at least one item.")
    return items


def _read_labelled(
    path: str | Path, text_field: str, label_field: str, prefix: str
) -> list[dict[str, Any]]:
    """{"id", "text", "label"} rows; labels become strings (CSV and JSON agree)."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    name = Path(path).name
    for n, row in read_rows(path):
        for key in (text_field, label_field):
            if key not in row or row[key] in (None, ""):
                raise UserError(
                    f'{name} line {n}: missing "{key}"', "Use --text-field/--label-field."
                )
        ident = _unique_id(row, f"{prefix}{n}", seen, name, n)
        label = row[label_field]
        rows.append(
            {
                "id": ident,
                "text": str(row[text_field]),
                "label": label if isinstance(label, str) else str(label),
            }
        )
    if not rows:
        raise UserError(f"{name} is empty", "Give at least one labelled item.")
    return rows


def _unique_id(row: dict[str, Any], default: str, seen: set[str], name: str, n: int) -> str:
    """The row's id (or `default`), added to `seen`; a repeated id names its line."""
    ident = str(row.get("id", default))
    if ident in seen:
        raise UserError(f"{name} line {n}: duplicate id '{ident}'", "Make ids unique.")
    seen.add(ident)
    return ident
