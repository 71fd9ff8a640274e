"""Load a resolved target for generation, and generate from it.

`load_model` turns a `Target` (what the user's RUN|ADAPTER|MODEL argument means, see
`target.resolve_target`) into a ready ``(model, tokenizer)`` pair. `generate` is the one
greedy/sampling call for a single conversation, so the demo's answers are exactly what
``tunetui chat --prompt`` prints; `generate_greedy` is its batched greedy form, with
per-token scores when asked, shared by `tunetui eval` and active learning.

Heavy libraries (torch, transformers, peft) are imported inside functions only.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunetui.planner.errors import UserError
from tunetui.runner.infer.target import Target, resolve_target

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["Target", "resolve_target"]  # re-exported: callers load what they resolve

# progress(phase, done, total): generation on a CPU takes minutes, so callers show where it is.
Progress = Callable[[str, int, int], None]

# Used only when a tokenizer ships no chat template (a base model): ChatML, which is what
# SmolLM2 and most small instruct models use, so prompts still look like conversations.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def quiet_libraries() -> None:
    """Silence import-time chatter (bitsandbytes' CPU-kernel warning, hub progress bars).

    Output of chat/eval/demo must be readable in a pipe; these messages are noise there.
    """
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - the training extra is missing
        pass


def pick_device() -> str:
    """'cuda' when a GPU is usable, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def generation_dtype(device: str) -> Any:
    """bf16 on GPUs that support it; fp32 on CPU, where bf16 matmuls are slower, not faster."""
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(target: Target) -> PreTrainedTokenizerBase:
    """The adapter's own tokenizer (it carries the training chat template), else the base's."""
    from transformers import AutoTokenizer

    source = target.base
    if target.adapter is not None and (target.adapter / "tokenizer_config.json").is_file():
        source = target.adapter
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=target.trust_remote_code)
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    target: Target,
    device: str | None = None,
    dtype: Any = None,
    merge: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``target`` ready for generation: base model, plus the adapter when there is one.

    The base is always loaded unquantized (a QLoRA adapter works on a 16-bit base too, and
    that is what merging needs). With ``merge=True`` the adapter is folded into the weights
    (faster generation, no peft wrapper); otherwise the result is a ``PeftModel`` whose
    ``disable_adapter()`` context gives the base model's behaviour without a second load.
    """
    quiet_libraries()
    from transformers import AutoModelForCausalLM

    device = device or pick_device()
    dtype = dtype if dtype is not None else generation_dtype(device)
    tokenizer = load_tokenizer(target)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            target.base, dtype=dtype, trust_remote_code=target.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise UserError(
            f"cannot load model '{target.base}': {str(exc).splitlines()[0]}",
            "check that the folder is a complete Hugging Face causal-LM checkpoint",
        ) from exc
    if target.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, target.adapter)
        if merge:
            model = model.merge_and_unload()
    model.to(device)
    model.eval()
    return model, tokenizer


def chat_inputs(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> Any:
    """Tokenised chat prompt ending with the assistant turn's opening (a BatchEncoding)."""
    return tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )


def prompt_text(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> str:
    """The chat prompt as text, ending with the assistant turn's opening."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    messages: list[dict[str, str]],
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    streamer: Any = None,
    stopping_criteria: Any = None,
) -> str:
    """One assistant reply to ``messages``. ``temperature=0`` is greedy, so it is reproducible."""
    inputs = chat_inputs(tokenizer, messages)
    ids = generate_ids(
        model, tokenizer, inputs, max_new_tokens, temperature, streamer, stopping_criteria
    )
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def generate_ids(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    inputs: Any,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    streamer: Any = None,
    stopping_criteria: Any = None,
) -> list[int]:
    """The token ids generated after tokenised ``inputs`` (a chat prompt, or raw text for
    the server's ``/v1/completions``), greedy at ``temperature=0``; `generate` decodes them,
    the server also counts them for ``usage``."""
    import torch

    inputs = inputs.to(model.device)
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id,
        "streamer": streamer,
        "stopping_criteria": stopping_criteria,
    }
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature, top_p=0.95)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        output = model.generate(**inputs, **kwargs)
    return output[0, inputs["input_ids"].shape[1] :].tolist()


@dataclass
class Generated:
    """One greedy answer. With ``scores=True``, per generated token (the end-of-sequence
    token included, padding excluded): the log-probability of the token chosen and the
    entropy of the distribution it was chosen from, both in nats."""

    text: str
    token_logprobs: list[float] = field(default_factory=list)
    token_entropies: list[float] = field(default_factory=list)


def generate_greedy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[dict[str, str]]],
    max_new_tokens: int = 128,
    batch_size: int = 8,
    scores: bool = False,
    progress: Progress | None = None,
) -> list[Generated]:
    """Greedy answers to many chat prompts, batched with left padding (sorted by length).

    Used by `tunetui eval` (BLEU/ROUGE) and by active learning (uncertainty of the answer),
    so both score what `generate`, and therefore `tunetui chat`, would answer.
    """
    import torch

    texts = [prompt_text(tokenizer, p) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: dict[int, Generated] = {}
    stop_ids = _stop_ids(model, tokenizer)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues from the right edge of every row
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=tokenizer.pad_token_id,
                    output_logits=scores,
                    return_dict_in_generate=True,
                )
            new = out.sequences[:, enc["input_ids"].shape[1] :]
            logits = torch.stack(out.logits, dim=1) if scores else None  # (batch, steps, vocab)
            for row, i in enumerate(idx):
                step_logits = None if logits is None else logits[row]
                answers[i] = _answer(tokenizer, new[row], step_logits, stop_ids)
            if progress:
                progress("generating", min(start + batch_size, len(order)), len(order))
    finally:
        tokenizer.padding_side = side
    return [answers[i] for i in range(len(texts))]


def _stop_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """Token ids that end an answer: the generation config's (one or a list) and the EOS."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return {i for i in ids if i is not None}


def _answer(
    tokenizer: PreTrainedTokenizerBase, ids: Any, logits: Any, stop_ids: set[int]
) -> Generated:
    """Decode one generated row up to its first stop token; scores when logits are given."""
    token_ids = ids.tolist()
    steps = next((n + 1 for n, t in enumerate(token_ids) if t in stop_ids), len(token_ids))
    text = tokenizer.decode(token_ids[:steps], skip_special_tokens=True).strip()
    if logits is None:
        return Generated(text)
    logprobs, entropies = step_scores(logits[:steps], ids[:steps])
    return Generated(text, logprobs, entropies)


def step_scores(logits: Any, chosen: Any) -> tuple[list[float], list[float]]:
    """(log p of each chosen token, entropy of each step) from (steps, vocab) logits.

    Reduced on the model's device, so only two numbers per step leave it, never a
    vocabulary-wide row per step. ``entr`` takes 0 log 0 as 0.
    """
    import torch

    logp = logits.float().log_softmax(-1)
    picked = logp.gather(-1, chosen.to(logp.device).long()[:, None]).squeeze(-1)
    entropy = torch.special.entr(logp.exp()).sum(-1)
    return picked.tolist(), entropy.tolist()


def base_and_tuned_answers(
    target: Target, questions: list[str], max_new_tokens: int = 64
) -> list[dict[str, str]]:
    """Greedy answers to each question from the base model and from base + adapter.

    One load serves both: the adapter is switched off with peft's ``disable_adapter()``
    for the base answers, so the comparison costs a single model load.
    """
    if target.adapter is None:
        raise UserError(f"'{target.label}' has no adapter to compare", "train a LoRA run first")
    model, tokenizer = load_model(target, merge=False)
    rows = []
    for question in questions:
        messages = [{"role": "user", "content": question}]
        with model.disable_adapter():
            base = generate(model, tokenizer, messages, max_new_tokens)
        tuned = generate(model, tokenizer, messages, max_new_tokens)
        rows.append({"question": question, "base": base, "tuned": tuned})
    return rows
