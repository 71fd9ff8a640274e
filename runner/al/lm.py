"""Uncertainty and held-out loss from a causal LM, for the `generate` task.

For each pool prompt the model answers greedily; the uncertainty of that answer is the
mean next-token entropy over its steps, or MNLP (the negated mean log-probability of the
tokens it chose). Both only need one forward pass per step, no sampling, so they are
deterministic. torch/transformers are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tunetui.runner.al.scoring import mean_token_entropy, mnlp


def _load(model_dir: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # generation continues from the right edge of every row
    return tok, model


def _prompt(tok: Any, text: str) -> str:
    """The chat template's user turn when the model has one, else the raw text."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text


def generation_uncertainty(
    model_dir: str, texts: Sequence[str], max_new_tokens: int = 32, batch_size: int = 8
) -> list[dict[str, Any]]:
    """Per text: {"guess", "entropy" (mean token entropy), "mnlp"} of the greedy answer."""
    import torch

    tok, model = _load(model_dir)
    out: list[dict[str, Any]] = []
    eos = tok.eos_token_id
    for s in range(0, len(texts), batch_size):
        batch = [_prompt(tok, t) for t in texts[s : s + batch_size]]
        enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=tok.pad_token_id,
            )
        new = gen.sequences[:, enc["input_ids"].shape[1] :]
        logps = torch.stack(gen.logits, dim=1).float().log_softmax(-1)  # (b, steps, vocab)
        for b in range(new.shape[0]):
            ids = new[b].tolist()
            steps = ids.index(eos) + 1 if eos in ids else len(ids)
            rows = logps[b, :steps].numpy()
            chosen = rows[np.arange(steps), ids[:steps]]
            out.append(
                {
                    "guess": tok.decode(ids[:steps], skip_special_tokens=True),
                    "entropy": mean_token_entropy(list(rows)),
                    "mnlp": mnlp(chosen),
                }
            )
    return out


def heldout_nll(model_dir: str, rows: Sequence[dict[str, Any]]) -> float:
    """Mean per-token negative log-likelihood of the reference answers given their prompts."""
    import torch

    tok, model = _load(model_dir)
    total, count = 0.0, 0
    for row in rows:
        prompt = tok(_prompt(tok, str(row["text"])), add_special_tokens=False)["input_ids"]
        answer = tok(str(row["label"]), add_special_tokens=False)["input_ids"]
        if tok.eos_token_id is not None:
            answer = answer + [tok.eos_token_id]
        ids = torch.tensor([prompt + answer])
        labels = ids.clone()
        labels[0, : len(prompt)] = -100
        with torch.no_grad():
            loss = model(input_ids=ids, labels=labels).loss
        total += float(loss) * len(answer)
        count += len(answer)
    return total / max(count, 1)
