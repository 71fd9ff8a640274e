"""The LLM learner: every round fine-tunes the project's model through the runner, and that
tuned model scores the pool.

A round ``r`` is

1. the labels in hand written as ``data/round-NNN.jsonl`` (alpaca rows: the prompt the
   model is asked with, and the answer: the label word, or the reference answer);
2. a real tunetui run in ``runs/round-NNN/`` made from the project's ``recipe.yaml``
   (its name, data, model and output filled in), started with the launcher like
   `tunetui run`. It is a run like any other: `TUNETUI_RUNS=DIR/runs tunetui runs` lists it,
   `tunetui stop` stops it, and the next `al train` resumes it (or waits for it while it
   runs; a worker outlives a dropped SSH session);
3. with ``--warm-start``, round r > 0 starts from round r-1's weights: its adapter is
   merged into its base once (``models/round-NNN/``) and that is round r's base model, so
   the new adapter continues from there. Otherwise every round starts from the base model.
   The round record says which (``warm_start_from``);
4. the tuned model scores the held-out set (the metric) and the stop set (kappa); `al
   select` scores the rest of the pool with the same model. All scores are saved per chunk
   under ``runs/round-NNN/scores/`` (`llmscore`), so no item is scored twice by a round's
   model and an interrupted scoring resumes.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.llmscore import PoolScores, Progress, score_pool

DEFAULT_PROMPT = "Classify the text as one of: {labels}. Answer with the label only.\n\n{text}"
POLL_S = 1.0


def question(state: st.ProjectState, text: str) -> str:
    """The user turn an item is asked with: the stored template (classify) or the text."""
    if state.task != "classify":
        return text
    template = state.prompt or DEFAULT_PROMPT
    return template.replace("{labels}", ", ".join(state.labels or [])).replace("{text}", text)


def round_name(r: int) -> str:
    return f"round-{r:03d}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def write_round_data(project: Path, state: st.ProjectState, r: int) -> Path:
    """The labels in hand as the round's training file (kept: its hash is in the record)."""
    from tunetui.runner.al.io import write_jsonl

    pool = st.load_pool(project)
    path = project / "data" / f"{round_name(r)}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled = state.labelled.items()
    write_jsonl(path, ({"instruction": question(state, pool[i]), "output": y} for i, y in labelled))
    return path


def round_recipe(project: Path, state: st.ProjectState, r: int, data: Path, base: str) -> Path:
    """The round's recipe file: the project's template with name, data, model and output."""
    from tunetui.runner.al.io import atomic_write_text
    from tunetui.runner.recipe_io import dump_recipe, load_recipe

    template = load_recipe(project / st.RECIPE_FILE)
    recipe = template.model_copy(
        update={
            "name": round_name(r),
            "data": template.data.model_copy(update={"datasets": [str(data.resolve())]}),
            "model": template.model.model_copy(update={"name_or_path": base}),
            "output_dir": str((project / "runs" / round_name(r)).resolve()),
        }
    )
    path = project / "data" / f"{round_name(r)}.recipe.yaml"
    atomic_write_text(path, dump_recipe(recipe))
    return path


def warm_base(project: Path, state: st.ProjectState, r: int) -> tuple[str, str]:
    """(base model for round r, what it is: "base" or the previous round's name)."""
    if not state.warm_start or r == 0:
        return str(state.model), "base"
    prev = project / "runs" / round_name(r - 1)
    merged = project / "models" / round_name(r - 1)
    if not (merged / "config.json").is_file():
        _merge(prev, merged)
    return str(merged.resolve()), round_name(r - 1)


def _merge(run_dir: Path, dest: Path) -> None:
    """Fold a round's adapter into its base and save it as a model folder (atomically)."""
    import shutil

    from tunetui.runner.infer.inference import load_model
    from tunetui.runner.infer.target import resolve_target

    model, tokenizer = load_model(resolve_target(str(run_dir)), device="cpu", merge=True)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(dest)


def ensure_trained(run_dir: Path, recipe_path: Path, progress: Progress | None = None) -> float:
    """Start the round's run, or wait for / resume the one there; seconds it trained.

    While it trains, `progress("training", step, total)` follows its events (the same
    numbers `tunetui attach` shows), so `al train` is not silent for minutes.
    """
    from tunetui.runner import launcher
    from tunetui.runner.runstate import read_state

    if not run_dir.exists() or not any(run_dir.iterdir()):
        _wait(run_dir, launcher.start_run(recipe_path, output=run_dir).process, progress)
    rs = _wait(run_dir, None, progress)  # started by an interrupted `al train`: wait for it
    if rs.state in ("stopped", "crashed"):
        rs = _wait(run_dir, launcher.resume_run(run_dir).process, progress)
    if rs.state != "finished":
        raise UserError(
            f"round run {run_dir.name} {rs.state}: {rs.message or 'see train.log'}",
            f"Read {run_dir / 'train.log'}, fix it, delete {run_dir}, run `tunetui al train`.",
        )
    return float(read_state(run_dir).duration_s or 0.0)


def _wait(run_dir: Path, process: Any, progress: Progress | None) -> Any:
    """The run's state once its worker (`process`, or the one in run.json) is done."""
    from tunetui.runner.runstate import read_state

    rs = read_state(run_dir)
    while (process is not None and process.poll() is None) or rs.active:
        if progress and rs.total_steps:
            progress("training", int(rs.step or 0), int(rs.total_steps))
        time.sleep(POLL_S)
        rs = read_state(run_dir)
    return rs


def score_items(
    project: Path,
    state: st.ProjectState,
    run_dir: Path,
    which: str,
    items: dict[str, str],
    progress: Progress | None = None,
    max_new_tokens: int = 32,
) -> PoolScores:
    """Scores of `items` (id -> text) by the round's model, cached in ``scores/<which>``."""
    ids = list(items)
    return score_pool(
        str(run_dir),
        ids,
        [question(state, items[i]) for i in ids],
        run_dir / "scores" / which,
        labels=state.labels if state.task == "classify" else None,
        max_new_tokens=max_new_tokens,
        progress=progress,
    )


def latest_run(project: Path, state: st.ProjectState) -> Path:
    """The newest round's run (the model `select` scores with)."""
    if not state.rounds or state.rounds[-1].run_dir is None:
        raise UserError(
            "the LLM learner selects with a fine-tuned model, and there is no round yet",
            f"Run `tunetui al train {project}` first (or use --strategy random).",
        )
    return project / state.rounds[-1].run_dir


def train_llm_round(
    project: Path, state: st.ProjectState, r: int, progress: Progress | None = None
) -> tuple[dict[str, float], float | None, dict[str, Any]]:
    """Fine-tune, measure, score the pool: (metrics, kappa, the round's extra record)."""
    t0 = time.time()
    run_dir = project / "runs" / round_name(r)
    data = project / "data" / f"{round_name(r)}.jsonl"
    if not run_dir.exists():  # an interrupted round keeps the data it started with
        data = write_round_data(project, state, r)
    base, warm_from = warm_base(project, state, r)
    recipe_path = round_recipe(project, state, r, data, base)
    train_s = ensure_trained(run_dir, recipe_path, progress)
    metrics, kappa = _measure(project, state, run_dir, progress)
    seconds = time.time() - t0
    extra = {
        "learner": "llm",
        "warm_start_from": warm_from,
        "seconds": round(seconds, 1),
        "train_seconds": round(train_s, 1),
        "gpu_seconds": round(seconds * _n_gpus(), 1),
        "data_hash": _sha(data.read_bytes()),
        "recipe_hash": _sha((run_dir / "recipe.yaml").read_bytes()),
        "n_trained": sum(1 for line in data.read_text(encoding="utf-8").splitlines() if line),
    }
    return metrics, kappa, extra


def _measure(
    project: Path, state: st.ProjectState, run_dir: Path, progress: Progress | None
) -> tuple[dict[str, float], float | None]:
    """Held-out metric, and (classify) stop-set kappa. The rest of the pool is scored by
    `select` when it asks (same chunk cache), so a round nobody selects after costs no
    pool scoring."""
    from tunetui.runner.al.tasks import agreement

    held = st.load_heldout(project)
    if state.task != "classify":
        from tunetui.runner.al.lm import heldout_nll

        nll = heldout_nll(str(run_dir), held)
        return {"nll": nll, "neg_nll": -nll}, None
    from tunetui.runner.al.classifier import classification_metrics

    held_scores = score_items(
        project, state, run_dir, "heldout", {r["id"]: r["text"] for r in held}, progress
    )
    metrics = classification_metrics([r["label"] for r in held], held_scores.guesses)
    pool = st.load_pool(project)
    stop = score_items(
        project, state, run_dir, "pool", {i: pool[i] for i in state.stop_set}, progress
    )
    preds = stop.guesses
    kappa = agreement(state.stop_preds, preds)
    state.stop_preds = preds
    return metrics, kappa


def _n_gpus() -> int:
    """GPUs this machine trains and scores on (0 on a CPU), for the round's GPU-seconds."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def select_llm(b: Any) -> list[dict[str, Any]]:
    """Pick a batch (`tasks.Batch`) from the latest round's pool scores and embeddings.

    Uncertainty comes from the tuned model (label-word probabilities, or MNLP / mean token
    entropy of its answer); cluster-margin and k-center use its mean-pooled last hidden
    state, BADGE its last position's hidden state (the LM head's input).
    """
    from tunetui.runner.al.scoring import CLASS_SCORES
    from tunetui.runner.al.strategies import select
    from tunetui.runner.al.tasks import row_of

    if b.strategy == "random":
        picked = select("random", b.k, rng=b.rng, uncertainty=[0.0] * len(b.candidates))
        return [row_of(b, j, None, None) for j in picked]
    run_dir = latest_run(b.project, b.state)
    needed = list(b.candidates) + (list(b.state.labelled) if b.strategy == "kcenter" else [])
    items = {i: b.pool[i] for i in needed}
    scores = score_items(b.project, b.state, run_dir, "pool", items, b.progress, b.max_new_tokens)
    cand = scores.take(b.candidates)
    lab = scores.take(list(b.state.labelled)).emb if b.strategy == "kcenter" else None
    emb = cand.last if b.strategy == "badge" else cand.emb
    if cand.probs is not None:
        picked = select(b.strategy, b.k, rng=b.rng, probs=cand.probs, emb=emb, labelled_emb=lab)
        score = CLASS_SCORES.get(b.strategy, CLASS_SCORES["margin"])(cand.probs[picked])
    else:
        unc = cand.entropy if b.strategy == "entropy" else cand.mnlp
        picked = select(b.strategy, b.k, rng=b.rng, uncertainty=unc, emb=emb, labelled_emb=lab)
        score = unc[picked]
    return [row_of(b, j, cand.guesses[j], s) for j, s in zip(picked, score, strict=True)]
