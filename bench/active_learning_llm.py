"""Active learning with the LLM learner: does the fine-tuned model's own uncertainty save
labels, and how does that compare with the TF-IDF proxy on the same pool and budget?

Task: Rotten Tomatoes fresh/rotten (the offline data `active_learning.py` uses), asked as
positive/negative. Model: the embedded SmolLM2-135M-Instruct, LoRA. Every round goes
through the real `tunetui al` code (`runner.al.rounds.train_round`, `runner.al.loop.
run_loop`, `llmscore`): the round is a tunetui run made from the project's recipe, trained
by the runner's worker; the held-out and pool scores come from the label words'
next-token distribution of the tuned model.

Two shortcuts, both for the shared 2-core CPU, neither changes what is measured:

- the round's run folder is staged by the launcher as usual, but the worker is called
  in-process (`runner.train.worker.main`) instead of as a new interpreter, which saves
  ~15 s of imports per round;
- a round's adapter and checkpoints are deleted once the next round exists (the bench
  never warm-starts), and the stop set (for the kappa rule, which the bench does not
  report) is 4 items.

Paired design: for each seed, one seed set; round 0 (trained on it) is shared by random,
margin and BADGE (the project is copied after round 0), then each spends the same budget.
The proxy learner (TF-IDF + logistic regression, `runner.al.simulate`) runs on the same
pool, test set, seed sets and budget. Report: `active_learning.py --learner llm`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from tunetui.runner.al.simulate import Curve, seed_set, simulate

STRATEGIES = ("random", "margin", "badge")
# Label words the base model already has a meaning for. With `fresh`/`rotten` the untuned
# model answers `fresh` for everything (p >= 0.997; the last run never left that prior);
# `positive`/`negative` start near chance (macro-F1 0.52 zero-shot on 100 test items) and
# are learnt from about 20 labels. The dataset's classes are renamed, nothing else changes.
LABEL_WORDS = {"fresh": "positive", "rotten": "negative"}
LABELS = list(LABEL_WORDS.values())
PROMPT = "Movie review: {text}\nIs this review positive or negative?"
# The round recipe: LoRA (rank 8, every linear layer), 4 epochs at lr 1e-3, batch 4, bf16
# (this CPU has AVX512-BF16: bf16 matmuls ran 7x faster than fp32 here, and a round trains
# ~1.4x faster). Checked on one seed before the run, macro-F1 on 40-50 test items: 16
# labels, this recipe: 0.75 (zero-shot 0.52); 36 labels, fp32 batch 8: 0.80; but 24 labels
# x 3 epochs (9 steps of 8) and 36 labels x 2 epochs at 2e-3 only learnt the answer format
# (loss ~0.2, every item `positive`: 0.37 and 0.34): under 4 epochs did not learn here.
RECIPE = {
    "method": "lora", "rank": 8, "lr": 1e-3, "epochs": 4.0, "batch": 4,
    "grad_accum": 1, "cutoff_len": 112, "save_steps": 10_000, "logging_steps": 5,
    "precision": "bf16", "save_total_limit": 1,
}  # fmt: skip


def _in_process_trained(run_dir: Path, recipe_path: Path, progress: Any = None) -> float:
    """`llm.ensure_trained`, with the worker run in this process (see the module doc)."""
    from tunetui.runner import launcher
    from tunetui.runner.runstate import read_state
    from tunetui.runner.train import worker

    os.environ[launcher.WORKER_ENV] = "true"  # the launcher stages; nothing is spawned
    launcher.start_run(recipe_path, output=run_dir).process.wait()
    t0 = time.time()
    code = worker.main([str(run_dir)])
    if code != 0:
        raise RuntimeError(f"round {run_dir} failed ({code}); see its events.jsonl")
    state = read_state(run_dir)
    return float(state.duration_s or time.time() - t0)


def _drop_weights(project: Path, keep_latest: bool = False) -> None:
    """Delete saved weights of the project's rounds (the newest one's too, unless asked to
    keep it: `select` scores the pool with it)."""
    runs = sorted((project / "runs").glob("round-*"))
    for run in runs[:-1] if keep_latest else runs:
        for name in ("model", "adapter", "checkpoints"):
            shutil.rmtree(run / name, ignore_errors=True)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_project(
    work: Path, pool: list[str], pool_y: list[str], test: list[str], test_y: list[str],
    seed_idx: np.ndarray, model: str,
) -> tuple[Path, Path]:  # fmt: skip
    """(project after round 0, oracle file) for one seed."""
    from tunetui.runner.al import llm
    from tunetui.runner.al import state as st
    from tunetui.runner.al.create import LearnerOptions, init_project
    from tunetui.runner.al.rounds import train_round
    from tunetui.runner.al.state import load_state
    from tunetui.runner.flags import recipe_from_flags
    from tunetui.runner.recipe_io import dump_recipe

    work.mkdir(parents=True, exist_ok=True)
    recipe = work / "recipe.yaml"
    recipe.write_text(dump_recipe(recipe_from_flags(recommend=False, name="round", **RECIPE)))
    ids = [f"p{i}" for i in range(len(pool))]
    _write(work / "pool.jsonl", [{"id": i, "text": t} for i, t in zip(ids, pool, strict=True)])
    seed_rows = [{"id": ids[j], "text": pool[j], "label": pool_y[j]} for j in seed_idx]
    _write(work / "seed.jsonl", seed_rows)
    _write(
        work / "test.jsonl", [{"text": t, "label": y} for t, y in zip(test, test_y, strict=True)]
    )
    oracle = _write(
        work / "oracle.jsonl", [{"id": i, "label": y} for i, y in zip(ids, pool_y, strict=True)]
    )
    learn = LearnerOptions("llm", False, recipe, PROMPT)
    project = work / "round0"
    init_project(
        project, work / "pool.jsonl", work / "seed.jsonl", heldout=work / "test.jsonl",
        labels=LABELS, model=model, learner=learn,
    )  # fmt: skip
    train_round(project)
    # Score the pool once with round 0's model, so random/margin/BADGE share it.
    state = load_state(project)
    llm.score_items(project, state, project / "runs" / "round-000", "pool", st.load_pool(project))
    _drop_weights(project)
    return project, oracle


def llm_curves(
    data: dict[str, Any], seeds: list[int], k: int, rounds: int, work: Path, model: str, log: Any
) -> tuple[list[Curve], list[dict]]:
    """LLM-learner curves (strategy x seed) and one timing row per round."""
    from tunetui.runner.al import create, llm
    from tunetui.runner.al.loop import run_loop

    llm.ensure_trained = _in_process_trained  # type: ignore[assignment]
    # The stop set is scored every round for the kappa rule, which the bench does not use:
    # 4 items instead of the whole (small) pool keeps the pool scored only when selecting.
    create.STOP_SET_SIZE = 4
    curves, timings = [], []
    for seed in seeds:
        seed_idx = seed_set(data["pool_y"], data["seed_size"], np.random.default_rng(seed))
        base, oracle = make_project(
            work / f"seed{seed}", data["pool_x"], data["pool_y"], data["test_x"],
            data["test_y"], seed_idx, model,
        )  # fmt: skip
        for strategy in STRATEGIES:
            project = base.with_name(strategy)
            shutil.copytree(base, project, dirs_exist_ok=True)
            run_loop(project, oracle, rounds=rounds, k=k, strategy=strategy,
                     on_round=lambda _r, p=project: _drop_weights(p, keep_latest=True))  # fmt: skip
            _drop_weights(project)
            curve, rows = _read_curve(project, strategy, seed)
            curves.append(curve)
            timings += rows
            log(f"  llm {strategy:8s} seed {seed}: macro-F1 "
                + " ".join(f"{m['macro_f1']:.3f}" for m in curve.metrics)
                + f" at {curve.n_labels} labels")  # fmt: skip
    return curves, timings


def _read_curve(project: Path, strategy: str, seed: int) -> tuple[Curve, list[dict]]:
    """A strategy's learning curve and per-round timings, from its project's state.json."""
    from tunetui.runner.al.state import load_state

    st = load_state(project)
    curve = Curve(strategy, seed, [r.n_labels for r in st.rounds],
                  [dict(r.metrics) for r in st.rounds])  # fmt: skip
    rows = [{"strategy": strategy, "seed": seed, "round": r.round, "seconds": r.seconds,
             "train_seconds": getattr(r, "train_seconds", None)} for r in st.rounds]  # fmt: skip
    return curve, rows


def curves_from_work(work: Path, rounds: int) -> tuple[list[Curve], list[dict], list[int]]:
    """(curves, timings, seeds) of every seed whose three strategies finished, read back
    from the work folder (`--report-from-work`: a report from a run cut short)."""
    curves, timings, seeds = [], [], []
    for folder in sorted(work.glob("seed*"), key=lambda f: int(f.name[4:])):
        seed = int(folder.name[4:])
        read = [_read_curve(folder / s, s, seed) for s in STRATEGIES if (folder / s).is_dir()]
        if len(read) < len(STRATEGIES) or any(len(c.n_labels) < rounds + 1 for c, _ in read):
            continue
        seeds.append(seed)
        for curve, rows in read:
            curves.append(curve)
            timings += rows
    return curves, timings, seeds


def proxy_curves(data: dict[str, Any], seeds: list[int], k: int, rounds: int) -> list[Curve]:
    """The TF-IDF + logistic-regression learner on the same pool, test, seed sets, budget."""
    from tunetui.runner.al.classifier import Featurizer

    feats = Featurizer().fit(data["pool_x"] + data["test_x"], seed=0)
    xp, xt = feats.transform(data["pool_x"]), feats.transform(data["test_x"])
    emb = feats.embed(xp)
    out = []
    for seed in seeds:
        seed_idx = seed_set(data["pool_y"], data["seed_size"], np.random.default_rng(seed))
        for strategy in STRATEGIES:
            out.append(
                simulate(
                    xp,
                    data["pool_y"],
                    emb,
                    xt,
                    data["test_y"],
                    LABELS,
                    seed_idx,
                    strategy,
                    k,
                    rounds,
                    seed,
                )  # fmt: skip
            )
    return out


# ---------------------------------------------------------------------------- report
def summarise(curves: list[Curve], budget: int) -> tuple[list[dict], float]:
    """`active_learning.analyse` rows, with the target at 95% of the best strategy's mean
    final macro-F1 for this learner (training on the whole pool is out of CPU reach), and
    the paired gain in final macro-F1 over random: on a three-point grid labels-to-target
    can hide a difference the last round shows."""
    from active_learning import METRIC, TARGET_FRACTION, analyse, paired_bootstrap

    finals: dict[str, dict[int, float]] = {}
    for c in curves:
        finals.setdefault(c.strategy, {})[c.seed] = float(c.values(METRIC)[-1])
    best = max(float(np.mean(list(v.values()))) for v in finals.values())
    rows = analyse("rotten-tomatoes", curves, best, budget)
    seeds = sorted(finals["random"])
    rand = np.array([finals["random"][s] for s in seeds])
    for row in rows:
        if row["strategy"] != "random":
            mine = np.array([finals[row["strategy"]][s] for s in seeds])
            row["final_gain"] = paired_bootstrap(mine, rand, lambda a, b: (a - b).mean())
    return rows, TARGET_FRACTION * best


def _fmt_ci(v: tuple[float, float, float], pct: bool) -> str:
    if pct:
        return f"{v[0]:+.1%} [{v[1]:+.1%}, {v[2]:+.1%}]"
    return f"{v[0]:+.4f} [{v[1]:+.4f}, {v[2]:+.4f}]"


def table(rows_by_learner: dict[str, list[dict]]) -> list[str]:
    from active_learning import verdict

    out = [
        "| learner | strategy | reached target | labels to target (mean) | saving vs random "
        "[95% CI] | AUC gain [95% CI] | final macro-F1 | final gain [95% CI] | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for learner, rows in rows_by_learner.items():
        for r in rows:
            saving = "-" if r["strategy"] == "random" else _fmt_ci(r["saving"], True)
            auc = "-" if r["strategy"] == "random" else _fmt_ci(r["auc_gain"], False)
            final = "-" if r["strategy"] == "random" else _fmt_ci(r["final_gain"], False)
            out.append(
                f"| {learner} | {r['strategy']} | {r['reached']}/{r['seeds']} | "
                f"{r['labels_mean']:.1f} | {saving} | {auc} | {r['final_metric']:.4f} | "
                f"{final} | {verdict(r)} |"
            )
    return out


def plot(path: Path, curves: dict[str, list[Curve]], targets: dict[str, float]) -> None:
    from active_learning import plot_panels

    n = len({c.seed for cs in curves.values() for c in cs})
    plot_panels(
        path,
        [
            (f"{learner} learner: mean, min-max over {n} seeds", cs, targets[learner], "target")
            for learner, cs in curves.items()
        ],
    )


CUTS = (
    "a pool of 100 and a test set of 50 (of 10,246 / 2,562), 8 seed labels and 2 rounds of "
    "8 (budget 24 labels), random/margin/BADGE only, a 4-item stop set, the worker run "
    "in-process, LoRA rank 8 for 4 epochs in bf16 (fewer epochs did not learn). Training "
    "is the cost: 4 epochs x every label in hand x 3 strategies x every round, about 0.9 s "
    "per example-epoch on one thread, plus ~0.3 s per scored item (test set every round, "
    "the pool when margin/BADGE select). A third round (32 labels) would have cost ~90 "
    "minutes. So the curves have three points (8, 16, 24 labels), labels-to-target is read "
    "on that grid (steps of 8 labels), and the test metric moves in steps of 1/50."
)


def add_llm_args(ap: argparse.ArgumentParser) -> None:
    """Options of `--learner llm` (the fine-tuned SmolLM2 picks: `active_learning_llm`)."""
    llm = ap.add_argument_group("--learner llm (the fine-tuned SmolLM2 picks)")
    llm.add_argument("--learner", choices=("proxy", "llm"), default="proxy")
    llm.add_argument("--model", default="smollm2-135m")
    llm.add_argument("--pool", type=int, default=100)
    llm.add_argument("--test", type=int, default=50)
    llm.add_argument("--seed-size", type=int, default=8)
    llm.add_argument("--k", type=int, default=8)
    llm.add_argument("--rounds", type=int, default=2)
    llm.add_argument("--work", default="/tmp/tunetui-al-llm-bench")
    llm.add_argument(
        "--first-seed", type=int, default=0,
        help="seeds FIRST..FIRST+SEEDS-1 (more seeds later, into another --work; move their "
        "seedN folders into one --work and use --report-from-work)",
    )  # fmt: skip
    llm.add_argument("--cuts", default=CUTS)
    llm.add_argument(
        "--report-from-work", action="store_true", help="report the seeds finished in --work"
    )


MARK_BEGIN = "<!-- llm-learner: written by bench/active_learning.py --learner llm -->"
MARK_END = "<!-- /llm-learner -->"


def write_section(md: Path, meta: dict, rows: dict[str, list[dict]], timings: list[dict]) -> None:
    """Put the LLM-learner section into active_learning.md (replacing an earlier one)."""
    secs = [t["seconds"] for t in timings if t["seconds"]]
    train = [t["train_seconds"] for t in timings if t.get("train_seconds")]
    lines = [
        MARK_BEGIN,
        "## LLM learner: the fine-tuned model picks (issue 16)",
        "",
        "Generated by `OMP_NUM_THREADS=1 nice -n 10 python bench/active_learning.py "
        f"--learner llm` in {meta['elapsed'] / 60:.1f} min on the shared 2-core CPU "
        f"({meta['date']}).",
        "Model: embedded SmolLM2-135M-Instruct, each round fine-tuned by the runner "
        f"(LoRA rank {RECIPE['rank']}, every linear layer, {RECIPE['epochs']:g} epochs, "
        f"lr {RECIPE['lr']:g}, batch {RECIPE['batch']}, {RECIPE['precision']}) from the base "
        "model on every "
        f"label in hand, asked `{PROMPT!r}`; scored from the next-token distribution over "
        "the first tokens of `positive`/`negative` (the dataset's fresh/rotten), "
        "renormalised. BADGE uses the model's last hidden state. The untuned model scores "
        f"macro-F1 {meta['zero_shot_macro_f1']:.3f} on the test set (zero-shot, same prompt).",
        f"Pool {meta['pool']} items, test {meta['test']} items (fixed random subsets of the "
        f"Rotten Tomatoes split above), seed set {meta['seed_size']}, batch k={meta['k']}, "
        f"{meta['rounds']} rounds (budget {meta['budget']} labels), {meta['seeds']} paired "
        "seeds. The proxy learner ran on the same pool, test set, seed sets and budget.",
        f"Target: 95% of the best strategy's mean final macro-F1 for that learner "
        f"(LLM {meta['targets']['llm']:.4f}, proxy {meta['targets']['proxy']:.4f}); "
        "a run that never reaches it counts as the budget. Saving and AUC gain as above; "
        "*final gain*: mean paired difference from random in macro-F1 at the budget (all "
        "three: paired bootstrap over seeds, 10,000 resamples).",
        f"Cost per LLM round: {np.mean(secs):.0f} s mean wall time "
        f"({np.mean(train) if train else 0:.0f} s training, the rest scoring test + pool); "
        "0 GPU-seconds (CPU).",
        "",
        "![LLM vs proxy learning curves](active_learning_llm.png)",
        "",
        *table(rows),
        "",
        "What was cut to fit the CPU: " + meta["cuts"],
        "",
        MARK_END,
    ]
    text = md.read_text(encoding="utf-8") if md.is_file() else ""
    if MARK_BEGIN in text:
        text = text[: text.index(MARK_BEGIN)] + text[text.index(MARK_END) + len(MARK_END) + 1 :]
    md.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


def main(args: Any) -> None:
    """The LLM-learner bench (`active_learning.py --learner llm`)."""
    from active_learning_data import load_rotten_tomatoes

    t0 = time.time()
    ds = load_rotten_tomatoes(args.cache)
    rng = np.random.default_rng(7)
    pi = rng.choice(len(ds.pool_x), args.pool, replace=False)
    ti = rng.choice(len(ds.test_x), args.test, replace=False)
    data = {
        "pool_x": [ds.pool_x[i] for i in pi],
        "pool_y": [LABEL_WORDS[ds.pool_y[i]] for i in pi],
        "test_x": [ds.test_x[i] for i in ti],
        "test_y": [LABEL_WORDS[ds.test_y[i]] for i in ti],
        "seed_size": args.seed_size,
    }  # fmt: skip
    work = Path(args.work)
    if args.report_from_work:
        llm, timings, seeds = curves_from_work(work, args.rounds)
        elapsed = _seeds_wall_time(work, seeds)
    else:
        shutil.rmtree(work, ignore_errors=True)
        # The bench's round runs are indexed in their own state dir, not the user's list.
        os.environ.setdefault("TUNETUI_STATE_DIR", str(work / "state"))
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        print(f"zero-shot macro-F1 {zero_shot(data, args.model, work):.3f}", flush=True)
        llm, timings = llm_curves(
            data, seeds, args.k, args.rounds, work, args.model,
            lambda s: print(s, flush=True),
        )  # fmt: skip
        elapsed = time.time() - t0
    curves = {"llm": llm, "proxy": proxy_curves(data, seeds, args.k, args.rounds)}
    _report(args, curves, timings, elapsed, len(seeds), zero_shot(data, args.model, work))


def _seeds_wall_time(work: Path, seeds: list[int]) -> float:
    """Seconds the finished seeds took, summed: from each seed's first file (its pool) to
    its last state.json write, so seeds run in separate batches add up without the gaps."""
    total = 0.0
    for seed in seeds:
        folder = work / f"seed{seed}"
        end = max(f.stat().st_mtime for f in folder.glob("*/state.json"))
        total += end - (folder / "pool.jsonl").stat().st_mtime
    return total


def zero_shot(data: dict[str, Any], model: str, work: Path) -> float:
    """The untuned model's test macro-F1 with the same prompt and label words: the floor
    the rounds are measured against (scores cached in the work folder)."""
    from tunetui.runner.al.classifier import classification_metrics
    from tunetui.runner.al.llmscore import score_pool

    questions = [PROMPT.replace("{text}", t) for t in data["test_x"]]
    ids = [f"t{i}" for i in range(len(questions))]
    scores = score_pool(model, ids, questions, work / "zero-shot", labels=LABELS)
    return float(classification_metrics(data["test_y"], scores.guesses)["macro_f1"])


def _report(
    args: Any,
    curves: dict[str, list[Curve]],
    timings: list[dict],
    elapsed: float,
    n_seeds: int,
    zero_shot_f1: float,
) -> None:
    """Analyse, and write the JSON, the plot and the section of active_learning.md."""
    budget = args.seed_size + args.k * args.rounds
    rows, targets = {}, {}
    for learner, cs in curves.items():
        rows[learner], targets[learner] = summarise(cs, budget)
    meta = {
        "elapsed": elapsed, "date": time.strftime("%Y-%m-%d"), "pool": args.pool,
        "test": args.test, "seed_size": args.seed_size, "k": args.k, "rounds": args.rounds,
        "budget": budget, "seeds": n_seeds, "targets": targets, "cuts": args.cuts,
        "zero_shot_macro_f1": zero_shot_f1, "recipe": RECIPE, "prompt": PROMPT,
        "label_words": LABEL_WORDS,
    }  # fmt: skip
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    raw = {"meta": meta, "rows": rows, "timings": timings,
           "curves": {n: [c.__dict__ for c in cs] for n, cs in curves.items()}}  # fmt: skip
    (out / "active_learning_llm.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    plot(out / "active_learning_llm.png", curves, targets)
    write_section(out / "active_learning.md", meta, rows, timings)
    print(f"wrote {out / 'active_learning.md'} ({elapsed / 60:.1f} min)")
