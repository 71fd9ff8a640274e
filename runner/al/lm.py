"""Uncertainty and held-out loss from a causal LM, for the `generate` task.

For each pool prompt the model answers greedily; the uncertainty of that answer is the
mean next-token entropy over its steps, or MNLP (the negated mean log-probability of the
tokens it chose). Both only need one forward pass per step, no sampling, so they are
deterministic. The model is loaded, prompted and run exactly as `tunetui chat` and
`tunetui eval` do it (`runner.infer.inference`), so the answer being scored is the one a
user would see, and the held-out loss is `tunetui eval`'s response-only NLL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunetui.runner.al.scoring import mean_token_entropy, mnlp


def _load(model_dir: str) -> tuple[Any, Any]:
    from tunetui.runner.infer.inference import load_model
    from tunetui.runner.infer.target import resolve_target

    return load_model(resolve_target(model_dir), merge=True)


def _user_turn(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def generation_uncertainty(
    model_dir: str, texts: Sequence[str], max_new_tokens: int = 32, batch_size: int = 8
) -> list[dict[str, Any]]:
    """Per text: {"guess", "entropy" (mean token entropy), "mnlp"} of the greedy answer."""
    from tunetui.runner.infer.inference import generate_greedy

    model, tokenizer = _load(model_dir)
    answers = generate_greedy(
        model,
        tokenizer,
        [_user_turn(t) for t in texts],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        scores=True,
    )
    return [
        {
            "guess": a.text,
            "entropy": mean_token_entropy(a.token_entropies),
            "mnlp": mnlp(a.token_logprobs),
        }
        for a in answers
    ]


def heldout_nll(model_dir: str, rows: Sequence[dict[str, Any]]) -> float:
    """Mean per-token negative log-likelihood of the reference answers given their prompts."""
    from tunetui.runner.infer.evaluate import perplexity

    model, tokenizer = _load(model_dir)
    pairs = [(_user_turn(str(r["text"])), str(r["label"])) for r in rows]
    return perplexity(model, tokenizer, pairs)[1]
