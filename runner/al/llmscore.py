"""Score a pool with the fine-tuned LLM itself: label-word probabilities, answer uncertainty,
and the model's own embeddings, batched, on the GPU when there is one, saved per chunk.

**Classification.** The round's model was fine-tuned to answer a prompt with the label
word. The next-token distribution right after the assistant turn opens is restricted to
the first token of each label word and renormalised: ``p(label) = softmax(logits[first
token of each label])``. Multi-token label words are scored by their first token only
(after fine-tuning, the first token decides the rest of the word); two labels whose words
start with the same token cannot be told apart this way, so that is refused with a fix.
The first token is found in context (prompt + label, minus the prompt), so BPE merges
across the boundary are accounted for.

**Generation.** The tuned model's greedy answer through `inference.generate_greedy`
(the same call `tunetui chat` and `tunetui eval` use), scored by MNLP and mean token entropy.

**Embeddings** for the diversity strategies come from the same forward pass: the
attention-masked mean of the last hidden state (cluster-margin, k-center) and the last
position's last hidden state, which is the input of the LM head; BADGE's gradient
embedding ``(p - onehot(y_hat)) (x) h_last`` is the gradient of the cross-entropy with
respect to the LM head's label-token rows (Ash et al. 2020), built by `strategies.badge`.

**Chunks.** Every `chunk` items the scores are written to ``out_dir/chunk-NNNNN.npz``
(ids with their rows). A stopped or killed scoring resumes from the chunks on disk: an id
already scored by this model is never scored again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tunetui.planner.errors import UserError

Progress = Callable[[str, int, int], None]
CHUNK = 256


@dataclass
class PoolScores:
    """Scores of `ids`, row-aligned. `probs` for classify; `entropy`/`mnlp` for generate."""

    ids: list[str]
    guesses: list[str]
    emb: np.ndarray  # mean-pooled last hidden state
    last: np.ndarray  # last position's last hidden state (BADGE's x)
    probs: np.ndarray | None = None
    entropy: np.ndarray | None = None
    mnlp: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def take(self, ids: Sequence[str]) -> PoolScores:
        """The rows of `ids`, in that order."""
        where = {i: n for n, i in enumerate(self.ids)}
        idx = np.asarray([where[i] for i in ids], dtype=int)

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return PoolScores(
            list(ids),
            [self.guesses[n] for n in idx],
            self.emb[idx],
            self.last[idx],
            pick(self.probs),
            pick(self.entropy),
            pick(self.mnlp),
        )


def user_turn(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def label_first_tokens(tokenizer: Any, labels: Sequence[str], prompt: str) -> list[int]:
    """The first answer token of each label word after `prompt` (a chat prompt's text)."""
    base = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    firsts = []
    for label in labels:
        ids = tokenizer(prompt + label, add_special_tokens=False)["input_ids"]
        n = next((j for j, (a, b) in enumerate(zip(base, ids, strict=False)) if a != b), len(base))
        if n >= len(ids):
            raise UserError(f"label '{label}' adds no token to the prompt", "Use a non-empty word.")
        firsts.append(int(ids[n]))
    seen: dict[int, str] = {}
    for label, tok in zip(labels, firsts, strict=True):
        if tok in seen:
            raise UserError(
                f"labels '{seen[tok]}' and '{label}' start with the same token, so the LLM "
                "learner cannot tell them apart",
                "Rename one so that the two label words start differently (--labels).",
            )
        seen[tok] = label
    return firsts


@functools.lru_cache(maxsize=1)
def _load(model: str) -> tuple[Any, Any]:
    """The model and tokenizer of `model` (a round's run); the last one stays loaded, since
    a round scores its held-out set and then its pool with the same model."""
    from tunetui.runner.infer.inference import load_model
    from tunetui.runner.infer.target import resolve_target

    return load_model(resolve_target(model), merge=True)


def _forward(model: Any, tokenizer: Any, texts: list[str]) -> tuple[Any, Any, Any]:
    """(last-position logits, mean-pooled and last-position last hidden state) of a batch."""
    import torch

    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    enc = enc.to(model.device)
    with torch.inference_mode():
        out = model(**enc, output_hidden_states=True, logits_to_keep=1)
    h = out.hidden_states[-1].float()
    mask = enc["attention_mask"][..., None].to(h.dtype)
    mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return out.logits[:, -1, :].float(), mean, h[:, -1, :]


def _classify_chunk(
    model: Any, tokenizer: Any, prompts: list[str], label_ids: list[int], labels: Sequence[str]
) -> dict[str, np.ndarray]:
    logits, mean, last = _forward(model, tokenizer, prompts)
    # float64: a confident model saturates float32 at p = 1.0, which would tie every margin.
    probs = logits[:, label_ids].double().softmax(-1).cpu().numpy()
    return {
        "probs": probs,
        "emb": mean.cpu().numpy(),
        "last": last.cpu().numpy(),
        "guesses": np.asarray([labels[j] for j in probs.argmax(axis=1)]),
    }


def _generate_chunk(
    model: Any, tokenizer: Any, prompts: list[str], messages: list[Any], max_new_tokens: int
) -> dict[str, np.ndarray]:
    from tunetui.runner.al.scoring import mean_token_entropy, mnlp
    from tunetui.runner.infer.inference import generate_greedy

    answers = generate_greedy(
        model, tokenizer, messages, max_new_tokens=max_new_tokens, batch_size=len(messages),
        scores=True,
    )  # fmt: skip
    _, mean, last = _forward(model, tokenizer, prompts)
    return {
        "entropy": np.asarray([mean_token_entropy(a.token_entropies) for a in answers]),
        "mnlp": np.asarray([mnlp(a.token_logprobs) for a in answers]),
        "emb": mean.cpu().numpy(),
        "last": last.cpu().numpy(),
        "guesses": np.asarray([a.text for a in answers]),
    }


def _read_chunks(out_dir: Path) -> dict[str, dict[str, Any]]:
    """id -> its row from every chunk on disk (a half-written chunk never exists: atomic)."""
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(out_dir.glob("chunk-*.npz")):
        with np.load(path, allow_pickle=False) as z:
            keys = [k for k in z.files if k != "ids"]
            arrays = {k: z[k] for k in keys}
            for n, ident in enumerate(z["ids"].tolist()):
                rows[str(ident)] = {k: a[n] for k, a in arrays.items()}
    return rows


def _write_chunk(out_dir: Path, n: int, ids: list[str], arrays: dict[str, np.ndarray]) -> None:
    import os

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".chunk-{n:05d}.tmp.npz"
    np.savez(tmp, ids=np.asarray(ids), **arrays)
    os.replace(tmp, out_dir / f"chunk-{n:05d}.npz")


def score_pool(
    model_ref: str,
    ids: Sequence[str],
    questions: Sequence[str],
    out_dir: Path,
    labels: Sequence[str] | None = None,
    max_new_tokens: int = 32,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> PoolScores:
    """Score `questions` (the user turns; row-aligned with `ids`) with `model_ref` (a run,
    adapter or model folder). `labels` given: classification, else generation."""
    done = _read_chunks(out_dir)
    todo = [n for n, i in enumerate(ids) if i not in done]
    if todo:
        scorer = _Scorer.load(model_ref, labels, max_new_tokens, [questions[n] for n in todo])
        n_chunks = len(list(out_dir.glob("chunk-*.npz"))) if out_dir.is_dir() else 0
        for c0 in range(0, len(todo), chunk):
            part = todo[c0 : c0 + chunk]

            def step(n: int, _c0: int = c0) -> None:
                if progress:
                    progress("scoring", len(done) + _c0 + n, len(done) + len(todo))

            arrays = scorer.score(range(c0, c0 + len(part)), step)
            _write_chunk(out_dir, n_chunks, [str(ids[n]) for n in part], arrays)
            n_chunks += 1
    elif progress:
        progress("scoring", len(ids), len(ids))
    return _assemble([str(i) for i in ids], _read_chunks(out_dir))


@dataclass
class _Scorer:
    """A loaded model with its prompts and the planned batch, scoring slices of them."""

    model: Any
    tokenizer: Any
    messages: list[Any]
    prompts: list[str]
    batch: int
    labels: Sequence[str] | None
    label_ids: list[int]
    max_new_tokens: int

    @classmethod
    def load(
        cls, model_ref: str, labels: Sequence[str] | None, max_new_tokens: int, questions: list[str]
    ) -> _Scorer:
        from tunetui.runner.al.llmplan import free_memory, plan_scoring
        from tunetui.runner.infer.inference import prompt_text

        model, tokenizer = _load(model_ref)
        tokenizer.padding_side = "left"  # the next token is read at the right edge
        messages = [user_turn(q) for q in questions]
        prompts = [prompt_text(tokenizer, m) for m in messages]
        sample = prompts[:256]
        seq = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in sample)
        device = str(model.device.type)
        new = 1 if labels else max_new_tokens
        plan = plan_scoring(_model_dir(model), seq + new, device, free_memory(device))
        label_ids = label_first_tokens(tokenizer, labels, prompts[0]) if labels else []
        batch = plan.batch
        return cls(model, tokenizer, messages, prompts, batch, labels, label_ids, max_new_tokens)

    def score(self, rows: range, step: Callable[[int], None]) -> dict[str, np.ndarray]:
        """Scores of prompts `rows`, batch by batch; `step(n)` after each batch."""
        parts: dict[str, list[np.ndarray]] = {}
        for b0 in range(rows.start, rows.stop, self.batch):
            sl = slice(b0, min(b0 + self.batch, rows.stop))
            if self.labels:
                arr = _classify_chunk(
                    self.model, self.tokenizer, self.prompts[sl], self.label_ids, self.labels
                )
            else:
                arr = _generate_chunk(
                    self.model, self.tokenizer, self.prompts[sl], self.messages[sl],
                    self.max_new_tokens,
                )  # fmt: skip
            for k, v in arr.items():
                parts.setdefault(k, []).append(v)
            step(sl.stop - rows.start)
        return {k: np.concatenate(v) for k, v in parts.items()}


def _model_dir(model: Any) -> str:
    return str(getattr(model.config, "_name_or_path", "") or ".")


def _assemble(ids: list[str], rows: dict[str, dict[str, Any]]) -> PoolScores:
    first = rows[ids[0]] if ids else {}

    def stack(key: str) -> np.ndarray | None:
        if key not in first:
            return None
        return np.stack([np.asarray(rows[i][key], dtype=float) for i in ids])

    return PoolScores(
        ids=ids,
        guesses=[str(rows[i]["guesses"]) for i in ids],
        emb=stack("emb") if ids else np.zeros((0, 1)),
        last=stack("last") if ids else np.zeros((0, 1)),
        probs=stack("probs"),
        entropy=stack("entropy"),
        mnlp=stack("mnlp"),
    )
