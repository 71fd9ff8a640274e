"""Evaluating a model or adapter on conversational data: perplexity, BLEU and ROUGE.

- **Perplexity** is measured on the responses only (the prompt is context, exactly as
  completion-only SFT trains), token-weighted over the whole set: ``exp(sum NLL / tokens)``.
- **BLEU** (sacrebleu, corpus level, 0-100) and **ROUGE-1/2/L** (rouge-score, mean F1 x 100)
  compare greedy generations with the references. Chinese text has no spaces, so it is
  scored per character, as LLaMA-Factory does: sacrebleu's ``zh`` tokenizer for BLEU, and a
  tokenizer that splits CJK characters (and keeps other words whole) for ROUGE, whose
  default tokenizer would silently drop every Chinese character.

Data is read by the same code as training (`runner.data.validation.load_samples`), so any
file or dataset name that `tunetui run` accepts works here, with the same error messages.
"""

from __future__ import annotations

import importlib.util
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError, unknown
from tunetui.runner.infer.inference import (
    Progress,
    Target,
    generate_greedy,
    load_model,
    prompt_text,
)
from tunetui.runner.rundir import RECIPE_FILE

METRICS = ("ppl", "bleu", "rouge", "accuracy")
_GENERATING = ("bleu", "rouge", "accuracy")  # metrics scored on greedy answers
_CHOICE = re.compile(r"^\(?([A-Za-z])[\).:]?(?:\s|$)")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|[a-z0-9]+"
)


@dataclass
class EvalResult:
    """Scores plus what they were computed on; ``predictions`` only when generating."""

    target: str
    data: str
    samples: int
    metrics: dict[str, float]
    seconds: float
    predictions: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_metrics(text: str) -> list[str]:
    """``"ppl,bleu"`` -> ``["ppl", "bleu"]``; an unknown name is a UserError with a suggestion."""
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    if not names:
        raise UserError("no metrics given", f"use --metrics with some of {','.join(METRICS)}")
    for name in names:
        if name not in METRICS:
            raise unknown("metric", name, METRICS)
    needs = {"bleu": "sacrebleu", "rouge": "rouge_score"}
    missing = [needs[m] for m in names if m in needs and importlib.util.find_spec(needs[m]) is None]
    if missing:
        pip = " ".join(p.replace("_", "-") for p in missing)
        raise UserError(f"metric needs {', '.join(missing)} (not installed)", f"pip install {pip}")
    return list(dict.fromkeys(names))


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .!?\"'")


def accuracy(hypotheses: list[str], references: list[str]) -> float:
    """Share of answers that match the reference, in %, as LLaMA-Factory's eval counts
    classification and multiple choice: a one-letter reference (``B`` or ``B.``) is a choice
    and matches the letter the answer starts with (``B``, ``(B)``, ``B. Paris``); any other
    reference (a label word) must equal the whole answer, case and spacing aside."""
    hits = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        want = _CHOICE.match(ref.strip())
        if want and len(ref.strip().rstrip(".):")) <= 3:
            got = _CHOICE.match(hyp.strip())
            hits += bool(got) and got.group(1).upper() == want.group(1).upper()
        else:
            hits += _normal(hyp) == _normal(ref)
    return 100.0 * hits / len(references) if references else 0.0


def has_cjk(texts: list[str]) -> bool:
    """True when any text contains Chinese/Japanese/Korean characters."""
    return any(_CJK.search(t) for t in texts)


# ----------------------------------------------------------------------------- scoring


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU-4, 0-100; character-level for CJK text."""
    import sacrebleu

    tokenize = "zh" if has_cjk(references) else "13a"
    return float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize).score)


class _MixedTokenizer:
    """rouge-score tokenizer: lowercase words, and every CJK character as its own token."""

    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())


def rouge(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F1 x 100 over the pairs."""
    from rouge_score import rouge_scorer

    kinds = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(kinds), tokenizer=_MixedTokenizer())
    totals = dict.fromkeys(kinds, 0.0)
    for hyp, ref in zip(hypotheses, references, strict=True):
        scores = scorer.score(ref, hyp)
        for kind in kinds:
            totals[kind] += scores[kind].fmeasure
    n = max(len(references), 1)
    return {
        "rouge-1": 100 * totals["rouge1"] / n,
        "rouge-2": 100 * totals["rouge2"] / n,
        "rouge-l": 100 * totals["rougeL"] / n,
    }


# ----------------------------------------------------------------------------- data


def load_eval_samples(
    data: str,
    dataset_dir: str | None = None,
    max_samples: int | None = None,
    placeholders: dict[str, str] | None = None,
) -> list[tuple[list[dict[str, str]], str]]:
    """(prompt messages, reference answer) pairs from a data file or a dataset name."""
    from tunetui.runner.data.validation import load_samples
    from tunetui.runner.recipe import DataSection, Recipe

    section = DataSection(datasets=[data], dataset_dir=dataset_dir, max_samples=max_samples)
    if placeholders is not None:
        section.placeholders = placeholders
    loaded = load_samples(Recipe(stage="sft", data=section))
    pairs = [
        (s.prompt, s.completion[-1]["content"])
        for ds in loaded
        for s in ds.samples
        if s.completion and s.prompt
    ]
    if not pairs:
        raise UserError(
            f"'{data}' has no prompt/response pairs to evaluate on",
            "use instruction data (alpaca instruction/output, or sharegpt conversations)",
        )
    return pairs[:max_samples] if max_samples else pairs


# ----------------------------------------------------------------------------- model side


def _response_rows(
    tokenizer: Any, pairs: list[tuple[list[dict[str, str]], str]], cutoff_len: int
) -> list[tuple[list[int], int]]:
    """(token ids of prompt + answer turn, number of prompt tokens) per pair, cut to length."""
    rows: list[tuple[list[int], int]] = []
    for prompt, answer in pairs:
        prompt_str = prompt_text(tokenizer, prompt)
        full_text = tokenizer.apply_chat_template(
            [*prompt, {"role": "assistant", "content": answer}], tokenize=False
        )
        if not full_text.startswith(prompt_str):  # templates that rewrite earlier turns
            full_text = prompt_str + answer + (tokenizer.eos_token or "")
        p_ids = tokenizer(prompt_str, add_special_tokens=False)["input_ids"]
        ids = tokenizer(full_text, add_special_tokens=False)["input_ids"][:cutoff_len]
        if len(ids) > len(p_ids):
            rows.append((ids, len(p_ids)))
    if not rows:
        raise UserError("every sample's prompt is longer than the cutoff", "raise --cutoff-len")
    return rows


def perplexity(
    model: Any,
    tokenizer: Any,
    pairs: list[tuple[list[dict[str, str]], str]],
    cutoff_len: int = 1024,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> tuple[float, float]:
    """(perplexity, mean NLL) of the reference answers given their prompts."""
    import torch
    import torch.nn.functional as F

    rows = _response_rows(tokenizer, pairs, cutoff_len)
    nll, count = 0.0, 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for i, (ids, n_prompt) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention[i, : len(ids)] = 1
            labels[i, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        with torch.inference_mode():
            logits = model(
                input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)
            ).logits.float()
        shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
        shift_labels = labels[:, 1:].reshape(-1).to(logits.device)
        nll += F.cross_entropy(
            shift_logits, shift_labels, ignore_index=-100, reduction="sum"
        ).item()
        count += int((shift_labels != -100).sum())
        if progress:
            progress("perplexity", min(start + batch_size, len(rows)), len(rows))
    mean = nll / count
    return math.exp(min(mean, 80.0)), mean


def run_placeholders(target: Target) -> tuple[dict[str, str] | None, str | None]:
    """A run's own placeholder values and dataset_dir, so its data reads as in training."""
    if target.run_dir is None:
        return None, None
    from tunetui.runner.recipe_io import load_recipe

    try:
        recipe = load_recipe(target.run_dir / RECIPE_FILE)
    except UserError:  # a damaged recipe: the data may still read with the defaults
        return None, None
    return recipe.data.placeholders, recipe.data.dataset_dir


def evaluate(
    target: Target,
    data: str,
    metrics: list[str],
    dataset_dir: str | None = None,
    max_samples: int | None = 200,
    max_new_tokens: int = 128,
    batch_size: int = 8,
    cutoff_len: int = 1024,
    model_and_tokenizer: tuple[Any, Any] | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Score ``target`` on ``data``; loads the model unless ``model_and_tokenizer`` is given."""
    started = time.monotonic()
    placeholders, run_dataset_dir = run_placeholders(target)
    pairs = load_eval_samples(data, dataset_dir or run_dataset_dir, max_samples, placeholders)
    if model_and_tokenizer is None:
        model_and_tokenizer = load_model(target, merge=True)
    model, tokenizer = model_and_tokenizer
    scores: dict[str, float] = {}
    predictions: list[dict[str, str]] = []
    if "ppl" in metrics:
        ppl, loss = perplexity(model, tokenizer, pairs, cutoff_len, batch_size, progress)
        scores.update(ppl=ppl, loss=loss)
    if any(m in metrics for m in _GENERATING):
        generated = generate_greedy(
            model, tokenizer, [p for p, _ in pairs], max_new_tokens, batch_size, progress=progress
        )
        answers = [g.text for g in generated]
        references = [r for _, r in pairs]
        if "bleu" in metrics:
            scores["bleu"] = bleu(answers, references)
        if "rouge" in metrics:
            scores.update(rouge(answers, references))
        if "accuracy" in metrics:
            scores["accuracy"] = accuracy(answers, references)
        predictions = [
            {"prompt": p[-1]["content"], "reference": r, "prediction": a}
            for (p, r), a in zip(pairs, answers, strict=True)
        ]
    return EvalResult(
        target=target.label,
        data=data,
        samples=len(pairs),
        metrics={k: round(v, 4) for k, v in scores.items()},
        seconds=round(time.monotonic() - started, 1),
        predictions=predictions,
        warnings=training_data_warning(target, data),
    )


def training_data_warning(target: Target, data: str) -> list[str]:
    """A warning when `data` is one of the run's own training datasets: scores on data the
    model was trained on measure memorisation, not how it does on new input."""
    if target.run_dir is None:
        return []
    from tunetui.runner.recipe_io import load_recipe

    try:
        trained = load_recipe(target.run_dir / RECIPE_FILE).data.datasets
    except UserError:
        return []

    def same(a: str, b: str) -> bool:
        pa, pb = Path(a).expanduser(), Path(b).expanduser()
        return a == b or (pa.exists() and pb.exists() and pa.resolve() == pb.resolve())

    if any(same(data, d) for d in trained):
        return [
            f"'{data}' is this run's training data: the scores measure memorisation; "
            "evaluate on held-out data (data.val_size, or another file)"
        ]
    return []
