"""What differs between the two task kinds, in one place: `classify` and `generate`.

The verbs (`create`, `selection`, `rounds`) are the same loop for both kinds; only these
questions have kind-specific answers, so each kind is one small object that answers them:

- which label set a project has (classify: the labels; generate: free text, none);
- which strategies make sense (generate has no class probabilities, so no `badge`);
- how a batch is scored (classify: TF-IDF + logistic regression; generate: the causal LM's
  uncertainty about its own greedy answer);
- what a round measures (classify: macro-F1 and stop-set kappa; generate: held-out NLL,
  plus the labels written as `train.jsonl` for a `tunetui run` recipe).

numpy is needed here (selection and training); scikit-learn and torch are imported inside
the functions that use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.io import write_jsonl
from tunetui.runner.al.llmscore import Progress
from tunetui.runner.al.strategies import STRATEGIES, select

Row = dict[str, Any]  # one to_label row: id, text, guess, score


@dataclass
class Batch:
    """A selection request: the candidates (neither labelled nor in flight) and the ask."""

    project: Path
    state: st.ProjectState
    pool: dict[str, str]
    candidates: list[str]
    k: int
    strategy: str
    rng: np.random.Generator
    model: str | None = None
    max_new_tokens: int = 32
    progress: Progress | None = None

    @property
    def texts(self) -> list[str]:
        return [self.pool[i] for i in self.candidates]

    def labelled_texts(self) -> list[str]:
        return [self.pool[i] for i in self.state.labelled]


class Classify:
    """Labels from a fixed set; TF-IDF + logistic regression picks and measures."""

    name: ClassVar[str] = "classify"
    strategies: ClassVar[tuple[str, ...]] = STRATEGIES
    method: ClassVar[str] = "tfidf-logreg"
    metric_name: ClassVar[str] = "macro_f1"

    def label_set(self, found: list[str], given: list[str] | None) -> list[str] | None:
        """`--labels` when given (it must cover every label seen), else the labels seen."""
        labels = [str(x) for x in given] if given else found
        extra = [lab for lab in found if lab not in labels]
        if extra:
            raise UserError(f"labels {extra} are not in --labels", "Add them to --labels.")
        return labels

    def _fit(self, project: Path, state: st.ProjectState, pool: dict[str, str]) -> Any:
        """Featurizer fitted on every text, and a classifier fitted on the labels so far."""
        from tunetui.runner.al.classifier import Featurizer, TextClassifier

        held = st.load_heldout(project)
        feats = Featurizer().fit(list(pool.values()) + [r["text"] for r in held], seed=state.seed)
        ids = list(state.labelled)
        clf = TextClassifier(state.labels or [], seed=state.seed)
        clf.fit(feats.transform([pool[i] for i in ids]), [state.labelled[i] for i in ids])
        return feats, clf

    def select(self, b: Batch) -> list[Row]:
        """Class probabilities of every candidate; the strategy picks from them."""
        from tunetui.runner.al.scoring import CLASS_SCORES

        if b.state.learner == "llm":
            from tunetui.runner.al.llm import select_llm

            return select_llm(b)

        feats, clf = self._fit(b.project, b.state, b.pool)
        x = feats.transform(b.texts)
        probs = clf.predict_proba(x)
        emb = feats.embed(x) if b.strategy in ("cluster-margin", "kcenter", "badge") else None
        lab_emb = (
            feats.embed(feats.transform(b.labelled_texts())) if b.strategy == "kcenter" else None
        )
        picked = select(b.strategy, b.k, rng=b.rng, probs=probs, emb=emb, labelled_emb=lab_emb)
        score = CLASS_SCORES.get(b.strategy, CLASS_SCORES["margin"])(probs[picked])
        labels = b.state.labels or []
        guesses = [labels[j] for j in probs[picked].argmax(axis=1)]
        return [row_of(b, j, g, s) for j, g, s in zip(picked, guesses, score, strict=True)]

    def train(
        self, project: Path, state: st.ProjectState, model: str | None
    ) -> tuple[dict[str, float], float | None]:
        """(held-out metrics, kappa vs the previous round's stop-set predictions)."""
        from tunetui.runner.al.classifier import classification_metrics

        pool = st.load_pool(project)
        feats, clf = self._fit(project, state, pool)
        held = st.load_heldout(project)
        metrics = classification_metrics(
            [r["label"] for r in held], clf.predict(feats.transform([r["text"] for r in held]))
        )
        preds = clf.predict(feats.transform([pool[i] for i in state.stop_set]))
        kappa = agreement(state.stop_preds, preds)
        state.stop_preds = preds
        return metrics, kappa


class Generate:
    """Free-text answers; a causal LM's uncertainty picks, its held-out NLL measures."""

    name: ClassVar[str] = "generate"
    strategies: ClassVar[tuple[str, ...]] = (
        "entropy",
        "mnlp",
        "random",
        "kcenter",
        "cluster-margin",
    )
    method: ClassVar[str] = "causal-lm-eval"
    metric_name: ClassVar[str] = "neg_nll"

    def label_set(self, found: list[str], given: list[str] | None) -> list[str] | None:
        return None  # answers are free text

    def select(self, b: Batch) -> list[Row]:
        """Diversity strategies need only TF-IDF; uncertainty ones run the LM on every item."""
        if b.state.learner == "llm":
            from tunetui.runner.al.llm import select_llm

            return select_llm(b)
        emb = lab_emb = None
        if b.strategy in ("kcenter", "cluster-margin"):
            from tunetui.runner.al.classifier import Featurizer

            feats = Featurizer().fit(list(b.pool.values()), seed=b.state.seed)
            emb = feats.embed(feats.transform(b.texts))
            lab_emb = feats.embed(feats.transform(b.labelled_texts()))
        texts = b.texts
        if b.strategy in ("random", "kcenter"):
            picked = select(
                b.strategy,
                b.k,
                rng=b.rng,
                uncertainty=np.zeros(len(texts)),
                emb=emb,
                labelled_emb=lab_emb,
            )
            return [row_of(b, j, None, None) for j in picked]
        from tunetui.runner.al.lm import generation_uncertainty

        model_dir = self.model_dir(b.state, b.model)
        scored = generation_uncertainty(model_dir, texts, max_new_tokens=b.max_new_tokens)
        key = "entropy" if b.strategy == "entropy" else "mnlp"
        unc = np.asarray([s[key] for s in scored])
        picked = select(b.strategy, b.k, rng=b.rng, uncertainty=unc, emb=emb)
        return [row_of(b, j, scored[j]["guess"], unc[j]) for j in picked]

    def train(
        self, project: Path, state: st.ProjectState, model: str | None
    ) -> tuple[dict[str, float], float | None]:
        """(held-out NLL, no kappa); the labels so far become `train.jsonl`."""
        from tunetui.runner.al.lm import heldout_nll

        nll = heldout_nll(self.model_dir(state, model), st.load_heldout(project))
        pool = st.load_pool(project)
        write_jsonl(
            project / "train.jsonl",
            ({"instruction": pool[i], "output": y} for i, y in state.labelled.items()),
        )
        return {"nll": nll, "neg_nll": -nll}, None

    @staticmethod
    def model_dir(state: st.ProjectState, model: str | None) -> str:
        """`--model`, else the model `init` recorded; it must be a local folder."""
        model_dir = model or state.model
        if not model_dir:
            raise UserError("task generate needs a causal LM to score with", "Pass --model HF_DIR.")
        if not Path(model_dir).is_dir():
            raise UserError(
                f"model directory not found: {model_dir}", "Give a local HF model folder."
            )
        return model_dir


TaskKind = Classify | Generate
TASK_KINDS: dict[str, TaskKind] = {"classify": Classify(), "generate": Generate()}
TASKS = tuple(TASK_KINDS)


def task_kind(name: str) -> TaskKind:
    """The kind object of a project's `task` (a state.json always names a known one)."""
    try:
        return TASK_KINDS[name]
    except KeyError:
        raise UserError(
            f"unknown task '{name}' in state.json", "Use classify or generate (re-run init)."
        ) from None


def agreement(before: list[str] | None, after: list[str]) -> float | None:
    """Cohen's kappa between two rounds' stop-set predictions (1.0 when both are identical)."""
    if not before or len(before) != len(after):
        return None
    if list(before) == list(after):
        return 1.0
    from sklearn.metrics import cohen_kappa_score

    k = float(cohen_kappa_score(before, after))
    return 0.0 if math.isnan(k) else k


def row_of(b: Batch, j: int, guess: str | None, score: Any) -> Row:
    """The to_label row of candidate `j` (score rounded; None for model-free picks)."""
    ident = b.candidates[j]
    rounded = None if score is None else round(float(score), 6)
    return {"id": ident, "text": b.pool[ident], "guess": guess, "score": rounded}
