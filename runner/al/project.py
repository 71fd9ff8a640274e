"""The loop's steps on a project directory: init, select, import, train, loop.

Each step reads `state.json`, validates everything before writing, and writes the new
state atomically last, so a step that fails leaves the project as it was. The CLI
(`tunetui al ...`) is a thin layer over these functions; a TUI screen can call them too.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from tunetui.planner.errors import UserError, did_you_mean
from tunetui.runner.al import state as st
from tunetui.runner.al.io import read_rows, write_csv, write_jsonl
from tunetui.runner.al.stopping import StopDecision, StopRules, decide
from tunetui.runner.al.strategies import STRATEGIES, select

TASKS = ("classify", "generate")
STOP_SET_SIZE = 1000
GENERATE_STRATEGIES = ("entropy", "mnlp", "random", "kcenter", "cluster-margin")


# ---------------------------------------------------------------------------- init
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
) -> dict[str, Any]:
    """Create a project from an unlabelled pool and a labelled seed set; return the state."""
    project = Path(project)
    if task not in TASKS:
        raise UserError(
            f"unknown task '{task}'", did_you_mean(task, TASKS) or "Use classify or generate."
        )
    if (project / st.STATE_FILE).exists() and not overwrite:
        raise UserError(f"{project} already holds an AL project", "Pass --overwrite to start over.")
    if not 0.0 <= heldout_frac < 1.0:
        raise UserError(f"--heldout-frac {heldout_frac} is out of range", "Use a value in [0, 1).")
    if model is not None and not Path(model).is_dir():
        raise UserError(f"model directory not found: {model}", "Give a local HF model folder.")

    pool_items = _read_texts(pool, text_field)
    seen_ids = {i for i, _ in pool_items}
    seed_rows = _read_labelled(seed_labels, text_field, label_field, prefix="s")
    rng = np.random.default_rng(seed)
    if heldout is not None:
        held = _read_labelled(heldout, text_field, label_field, prefix="h")
    else:
        n_held = int(round(heldout_frac * len(seed_rows)))
        if n_held >= len(seed_rows):
            raise UserError(
                "the held-out split would take every seed label", "Lower --heldout-frac."
            )
        order = rng.permutation(len(seed_rows))
        held = [seed_rows[i] for i in sorted(order[:n_held])]
        seed_rows = [seed_rows[i] for i in sorted(order[n_held:])]
    if not held:
        raise UserError(
            "no held-out labels to measure the model on",
            "Pass --heldout FILE or a --heldout-frac > 0 with enough seed labels.",
        )
    if task == "classify":
        found = sorted({r["label"] for r in seed_rows + held})
        labels = [str(x) for x in labels] if labels else found
        extra = [lab for lab in found if lab not in labels]
        if extra:
            raise UserError(f"labels {extra} are not in --labels", "Add them to --labels.")
    else:
        labels = None

    texts = dict(pool_items)
    state = st.new_state(task, text_field, label_field, labels, model, rules or StopRules(), seed)
    held_ids = set()
    for r in held:
        if r["id"] in texts:  # a held-out item must never be selected: take it out of the pool
            texts.pop(r["id"])
        held_ids.add(r["id"])
    for r in seed_rows:
        if r["id"] in held_ids:
            raise UserError(f"id '{r['id']}' is both a seed label and held out", "Remove one.")
        texts.setdefault(r["id"], r["text"])
        state["labelled"][r["id"]] = r["label"]
    state["seed_ids"] = list(state["labelled"])
    unlabelled = [i for i in texts if i not in state["labelled"]]
    if not unlabelled:
        raise UserError("the pool has no unlabelled items", "Give a --pool with items to label.")
    n_stop = min(STOP_SET_SIZE, len(unlabelled))
    state["stop_set"] = [
        unlabelled[i] for i in sorted(rng.choice(len(unlabelled), n_stop, replace=False))
    ]
    state["pool_size"] = len(texts)
    state["unmatched_seed_ids"] = len([r for r in seed_rows if r["id"] not in seen_ids])

    if project.exists() and overwrite:
        for name in (st.TO_LABEL_JSONL, st.TO_LABEL_CSV):
            (project / name).unlink(missing_ok=True)
        shutil.rmtree(project / "runs", ignore_errors=True)
    project.mkdir(parents=True, exist_ok=True)
    write_jsonl(project / st.POOL_FILE, ({"id": i, "text": t} for i, t in texts.items()))
    write_jsonl(project / st.HELDOUT_FILE, held)
    st.save_state(project, state)
    return state


def _read_texts(path: str | Path, text_field: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    ids: set[str] = set()
    name = Path(path).name
    for n, row in read_rows(path):
        if text_field not in row or row[text_field] in (None, ""):
            raise UserError(f'{name} line {n}: missing "{text_field}"', "Use --text-field.")
        ident = str(row.get("id", f"p{n}"))
        if ident in ids:
            raise UserError(f"{name} line {n}: duplicate id '{ident}'", "Make ids unique.")
        ids.add(ident)
        items.append((ident, str(row[text_field])))
    if not items:
        raise UserError(f"{name} is empty", "Give at least one item.")
    return items


def _read_labelled(path: str | Path, text_field: str, label_field: str, prefix: str) -> list[dict]:
    rows: list[dict[str, Any]] = []
    name = Path(path).name
    ids: set[str] = set()
    for n, row in read_rows(path):
        for key in (text_field, label_field):
            if key not in row or row[key] in (None, ""):
                raise UserError(
                    f'{name} line {n}: missing "{key}"', "Use --text-field/--label-field."
                )
        ident = str(row.get("id", f"{prefix}{n}"))
        if ident in ids:
            raise UserError(f"{name} line {n}: duplicate id '{ident}'", "Make ids unique.")
        ids.add(ident)
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


# ---------------------------------------------------------------------------- models
def _classify_model(project: Path, state: dict[str, Any]) -> tuple[Any, Any, dict[str, str]]:
    """Featurizer fitted on every text, and a classifier fitted on the labels so far."""
    from tunetui.runner.al.classifier import Featurizer, TextClassifier

    pool = st.load_pool(project)
    held = st.load_heldout(project)
    feats = Featurizer().fit(list(pool.values()) + [r["text"] for r in held], seed=state["seed"])
    ids = list(state["labelled"])
    clf = TextClassifier(state["labels"], seed=state["seed"])
    clf.fit(feats.transform([pool[i] for i in ids]), [state["labelled"][i] for i in ids])
    return feats, clf, pool


# ---------------------------------------------------------------------------- select
def select_batch(
    project: str | Path,
    k: int,
    strategy: str = "margin",
    model: str | None = None,
    max_new_tokens: int = 32,
) -> list[dict[str, Any]]:
    """Score the pool, pick K items, write to_label.jsonl/.csv and mark them in flight."""
    project = Path(project)
    state = st.load_state(project)
    if k < 1:
        raise UserError(f"--k {k} must be at least 1", "Ask for a positive batch size.")
    allowed = STRATEGIES if state["task"] == "classify" else GENERATE_STRATEGIES
    if strategy not in allowed:
        hint = did_you_mean(strategy, allowed) or "Choose one of: " + ", ".join(allowed) + "."
        raise UserError(f"unknown strategy '{strategy}' for task {state['task']}", hint)
    taken = set(state["labelled"]) | set(state["in_flight"])
    rng = np.random.default_rng([state["seed"], len(state["selections"])])

    if state["task"] == "classify":
        feats, clf, pool = _classify_model(project, state)
        cand = [i for i in pool if i not in taken]
        if not cand:
            raise UserError(
                "nothing left to label in the pool", "Every item is labelled or in flight."
            )
        x = feats.transform([pool[i] for i in cand])
        probs = clf.predict_proba(x)
        need_emb = strategy in ("cluster-margin", "kcenter", "badge")
        emb = feats.embed(x) if need_emb else None
        lab_emb = (
            feats.embed(feats.transform([pool[i] for i in state["labelled"]]))
            if strategy == "kcenter"
            else None
        )
        picked = select(strategy, k, rng=rng, probs=probs, emb=emb, labelled_emb=lab_emb)
        from tunetui.runner.al.scoring import CLASS_SCORES

        score = CLASS_SCORES.get(strategy, CLASS_SCORES["margin"])(probs[picked])
        guesses = [state["labels"][j] for j in probs[picked].argmax(axis=1)]
        rows = [
            {"id": cand[j], "text": pool[cand[j]], "guess": g, "score": round(float(s), 6)}
            for j, g, s in zip(picked, guesses, score, strict=True)
        ]
    else:
        rows = _select_generate(project, state, k, strategy, model, max_new_tokens, taken, rng)

    write_jsonl(project / st.TO_LABEL_JSONL, rows)
    write_csv(
        project / st.TO_LABEL_CSV,
        [{**r, "label": ""} for r in rows],
        ["id", "text", "guess", "score", "label"],
    )
    state["in_flight"] += [r["id"] for r in rows]
    state["selections"].append(
        {
            "t": round(time.time(), 3),
            "strategy": strategy,
            "k": k,
            "ids": [r["id"] for r in rows],
            "after_round": len(state["rounds"]) - 1,
        }
    )
    st.save_state(project, state)
    return rows


def _select_generate(
    project: Path,
    state: dict[str, Any],
    k: int,
    strategy: str,
    model: str | None,
    max_new_tokens: int,
    taken: set[str],
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Generation: uncertainty of the LM's own greedy answer (mean token entropy / MNLP)."""
    pool = st.load_pool(project)
    cand = [i for i in pool if i not in taken]
    if not cand:
        raise UserError("nothing left to label in the pool", "Every item is labelled or in flight.")
    texts = [pool[i] for i in cand]
    emb = None
    if strategy in ("kcenter", "cluster-margin"):
        from tunetui.runner.al.classifier import Featurizer

        feats = Featurizer().fit(list(pool.values()), seed=state["seed"])
        emb = feats.embed(feats.transform(texts))
        lab_emb = feats.embed(feats.transform([pool[i] for i in state["labelled"]]))
    if strategy in ("random", "kcenter"):
        picked = select(
            strategy,
            k,
            rng=rng,
            uncertainty=np.zeros(len(cand)),
            emb=emb,
            labelled_emb=lab_emb if emb is not None else None,
        )
        return [{"id": cand[j], "text": texts[j], "guess": None, "score": None} for j in picked]
    from tunetui.runner.al.lm import generation_uncertainty

    model_dir = _model_dir(state, model)
    scored = generation_uncertainty(model_dir, texts, max_new_tokens=max_new_tokens)
    key = "entropy" if strategy == "entropy" else "mnlp"
    unc = np.asarray([s[key] for s in scored])
    picked = select(strategy, k, rng=rng, uncertainty=unc, emb=emb)
    return [
        {
            "id": cand[j],
            "text": texts[j],
            "guess": scored[j]["guess"],
            "score": round(float(unc[j]), 6),
        }
        for j in picked
    ]


def _model_dir(state: dict[str, Any], model: str | None) -> str:
    model_dir = model or state.get("model")
    if not model_dir:
        raise UserError("task generate needs a causal LM to score with", "Pass --model HF_DIR.")
    if not Path(model_dir).is_dir():
        raise UserError(f"model directory not found: {model_dir}", "Give a local HF model folder.")
    return model_dir


# ---------------------------------------------------------------------------- import
def import_labels(project: str | Path, path: str | Path) -> int:
    """Validate a label file completely, then merge it; return how many labels were merged."""
    project = Path(project)
    state = st.load_state(project)
    rows = read_rows(path)
    merged = validate_labels(state, rows, Path(path).name, set(st.load_pool(project)))
    _merge(state, merged)
    st.save_state(project, state)
    return len(merged)


def validate_labels(
    state: dict[str, Any], rows: list[tuple[int, dict[str, Any]]], name: str, pool_ids: set[str]
) -> dict[str, str]:
    """id -> label for good rows; any bad row raises one error naming its line (first of N)."""
    field = state["label_field"]
    labels = state["labels"]
    errors: list[str] = []
    out: dict[str, str] = {}
    for n, row in rows:
        ident = row.get("id")
        value = row.get(field, row.get("label"))
        if ident in (None, ""):
            errors.append(f'{name} line {n}: missing "id"')
            continue
        ident = str(ident)
        if value is None or value == "":
            errors.append(f"{name} line {n}: missing label for id '{ident}'")
            continue
        value = value if isinstance(value, str) else str(value)
        if ident not in pool_ids:
            errors.append(f"{name} line {n}: unknown id '{ident}'")
        elif labels is not None and value not in labels:
            hint = did_you_mean(value, labels)
            errors.append(
                f"{name} line {n}: label '{value}' is not in the label set"
                + (f" ({hint})" if hint else "")
            )
        elif ident in out:
            errors.append(f"{name} line {n}: duplicate id '{ident}' in this file")
        elif ident in state["labelled"]:
            errors.append(f"{name} line {n}: id '{ident}' is already labelled")
        else:
            out[ident] = value
    if errors:
        more = f" (and {len(errors) - 1} more bad rows)" if len(errors) > 1 else ""
        raise UserError(errors[0] + more, "Fix the file; nothing was merged.")
    if not out:
        raise UserError(f"{name} holds no labels", "Give rows with id and label.")
    return out


def _merge(state: dict[str, Any], labels: dict[str, str]) -> None:
    state["labelled"].update(labels)
    done = set(labels)
    state["in_flight"] = [i for i in state["in_flight"] if i not in done]


# ---------------------------------------------------------------------------- train
def train_round(project: str | Path, model: str | None = None) -> dict[str, Any]:
    """Retrain on every label so far, measure on the held-out set, record a round.

    Returns the round record plus ``stop`` (the stopping decision after it). Each round is
    also a run directory with an events.jsonl, so it shows next to training runs.
    """
    from tunetui.runner.events import EventWriter

    project = Path(project)
    state = st.load_state(project)
    n_labels = len(state["labelled"])
    if state["rounds"] and state["rounds"][-1]["n_labels"] == n_labels:
        record = dict(state["rounds"][-1])
        record["note"] = "no new labels since this round; nothing retrained"
        record["stop"] = _decision(state).__dict__
        return record
    r = len(state["rounds"])
    run_dir = project / "runs" / f"round-{r:03d}"
    run_dir.mkdir(parents=True, exist_ok=True)
    with EventWriter(run_dir / "events.jsonl") as ev:
        method = "tfidf-logreg" if state["task"] == "classify" else "causal-lm-eval"
        ev.emit(
            "start",
            run=f"{project.name}/round-{r:03d}",
            stage="al",
            method=method,
            model=state.get("model") or method,
            total_steps=1,
            num_epochs=1,
        )
        if state["task"] == "classify":
            metrics, kappa, preds = _train_classify(project, state)
            state["stop_preds"] = preds
            metric_name = "macro_f1"
        else:
            from tunetui.runner.al.lm import heldout_nll

            held = st.load_heldout(project)
            nll = heldout_nll(_model_dir(state, model), held)
            metrics = {"nll": nll, "neg_nll": -nll}
            kappa, metric_name = None, "neg_nll"
            _export_generate_train(project, state)
        ev.emit("eval", step=r, metrics=metrics)
        ev.emit("end", step=r, metrics=metrics, output=None)
    record = {
        "round": r,
        "t": round(time.time(), 3),
        "n_labels": n_labels,
        "metric_name": metric_name,
        "metric": metrics[metric_name],
        "metrics": metrics,
        "kappa": kappa,
        "run_dir": str(run_dir.relative_to(project)),
    }
    state["rounds"].append(record)
    st.save_state(project, state)
    return {**record, "stop": _decision(state).__dict__}


def _train_classify(project: Path, state: dict[str, Any]) -> tuple[dict, float | None, list[str]]:
    from tunetui.runner.al.classifier import classification_metrics

    feats, clf, pool = _classify_model(project, state)
    held = st.load_heldout(project)
    metrics = classification_metrics(
        [r["label"] for r in held], clf.predict(feats.transform([r["text"] for r in held]))
    )
    preds = clf.predict(feats.transform([pool[i] for i in state["stop_set"]]))
    return metrics, agreement(state.get("stop_preds"), preds), preds


def agreement(before: list[str] | None, after: list[str]) -> float | None:
    """Cohen's kappa between two rounds' stop-set predictions (1.0 when both are identical)."""
    if not before or len(before) != len(after):
        return None
    if list(before) == list(after):
        return 1.0
    from sklearn.metrics import cohen_kappa_score

    k = float(cohen_kappa_score(before, after))
    return 0.0 if np.isnan(k) else k


def _export_generate_train(project: Path, state: dict[str, Any]) -> None:
    """Write the labels as instruction/output rows for a `tunetui run` recipe."""
    pool = st.load_pool(project)
    write_jsonl(
        project / "train.jsonl",
        ({"instruction": pool[i], "output": y} for i, y in state["labelled"].items()),
    )


def _decision(state: dict[str, Any]) -> StopDecision:
    rounds = state["rounds"]
    return decide(
        len(state["labelled"]),
        [r["metric"] for r in rounds],
        [r.get("kappa") for r in rounds],
        st.rules_of(state),
    )


def stop_decision(project: str | Path) -> StopDecision:
    return _decision(st.load_state(project))


# ---------------------------------------------------------------------------- loop
def run_loop(
    project: str | Path,
    oracle: str | Path,
    rounds: int = 10,
    k: int = 50,
    strategy: str = "margin",
    budget: int | None = None,
    model: str | None = None,
    on_round: Any = None,
) -> dict[str, Any]:
    """Unattended loop against known labels: train, select K, label from the oracle, repeat.

    Stops after `rounds` selections, or earlier when a stopping rule fires; `budget`
    overrides the project's budget. Returns {"rounds": [...], "stop": {...}}.
    """
    project = Path(project)
    state = st.load_state(project)
    if budget is not None:
        state["rules"]["budget"] = budget
        st.save_state(project, state)
    answers = _read_oracle(oracle, state)
    records: list[dict[str, Any]] = []
    if not state["rounds"] or state["rounds"][-1]["n_labels"] != len(state["labelled"]):
        records.append(train_round(project, model))
        if on_round:
            on_round(records[-1])
    decision = stop_decision(project)
    for _ in range(rounds):
        if decision.stop:
            break
        state = st.load_state(project)
        left = st.rules_of(state).budget
        k_now = k if left is None else min(k, left - len(state["labelled"]))
        rows = select_batch(project, k_now, strategy, model=model)
        missing = [r["id"] for r in rows if r["id"] not in answers]
        if missing:
            raise UserError(
                f"the oracle has no label for id '{missing[0]}' ({len(missing)} missing)",
                "Give an oracle file that labels the whole pool.",
            )
        state = st.load_state(project)
        _merge(
            state,
            validate_labels(
                state,
                [(0, {"id": r["id"], "label": answers[r["id"]]}) for r in rows],
                Path(oracle).name,
                {r["id"] for r in rows},
            ),
        )
        st.save_state(project, state)
        records.append(train_round(project, model))
        if on_round:
            on_round(records[-1])
        decision = stop_decision(project)
    if not decision.stop:
        decision = StopDecision(
            False, "rounds", f"stopped after {rounds} rounds (--rounds); no rule fired"
        )
    return {"rounds": records, "stop": decision.__dict__}


def _read_oracle(path: str | Path, state: dict[str, Any]) -> dict[str, str]:
    field = state["label_field"]
    out: dict[str, str] = {}
    name = Path(path).name
    for n, row in read_rows(path):
        if "id" not in row or (field not in row and "label" not in row):
            raise UserError(f'{name} line {n}: needs "id" and "{field}"', "Fix the oracle file.")
        value = row.get(field, row.get("label"))
        out[str(row["id"])] = value if isinstance(value, str) else str(value)
    return out
