"""Tiny random-init models for tests and demos that must not download anything.

A real model takes seconds to load and minutes to train on a CPU; the runner's tests only
need something with the right *shape*: a decoder-only architecture transformers knows, a
tokenizer with special tokens and a chat template (trl's conversational formats need one),
and weights on disk in the standard layout so the same loading code path runs as for a real
checkpoint. `make_tiny_model` writes exactly that in well under two seconds.

The tokenizer is a byte-level BPE trained on a few sentences with the `tokenizers` library,
so every byte is representable (no unknown tokens) while the vocabulary stays tiny and the
embedding matrix small. Its chat template is ChatML, like SmolLM2's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# ChatML, the template SmolLM2-Instruct uses; `{% generation %}` markers are left out on
# purpose: trl only needs them for assistant_only_loss, and prompt/completion data already
# gives completion-only loss.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# A few sentences are enough to learn some merges; bytes cover everything else.
_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "You are a helpful assistant. Answer the question briefly.",
    "What is the capital of France? The capital of France is Paris.",
    "Fine-tuning adapts a pretrained language model to a task with a small dataset.",
    "user assistant system tokens training loss learning rate batch step epoch",
    "def main():\n    print('hello world')\n",
    "0123456789 + - * / = ( ) [ ] { } < > | : ; , . ! ?",
]

ARCHS = ("llama", "qwen2", "mistral")


def build_tiny_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE `PreTrainedTokenizerFast` with ChatML special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=2048,
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_config(
    arch: str = "llama",
    vocab_size: int = 512,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int | None = 2,
    intermediate: int | None = None,
    max_positions: int = 2048,
    pad_token_id: int = 0,
    bos_token_id: int = 1,
    eos_token_id: int = 2,
) -> Any:
    """The transformers config of a tiny model of architecture `arch`."""
    from transformers import AutoConfig

    if arch not in ARCHS:
        raise ValueError(f"tiny models support {', '.join(ARCHS)}, not {arch!r}")
    return AutoConfig.for_model(
        arch,
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate or hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads or heads,
        max_position_embeddings=max_positions,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        tie_word_embeddings=True,
    )


def make_tiny_model(
    path: str | os.PathLike[str],
    arch: str = "llama",
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int | None = 2,
    vocab_size: int = 512,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a random-init causal LM + tokenizer (with chat template) to `path`; return it.

    The directory is a normal HF model folder (config.json, model.safetensors, tokenizer
    files), so it loads with `AutoModelForCausalLM.from_pretrained` and with
    `AutoModelForSequenceClassification` (reward models) alike. Written to a temp dir next
    to `path` and renamed, so a crashed call never leaves a half model behind.
    """
    import torch
    from transformers import AutoModelForCausalLM

    dest = Path(path)
    if dest.exists() and any(dest.iterdir()):
        if not overwrite:
            return dest
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tiny_tokenizer(vocab_size)
    config = tiny_config(
        arch,
        vocab_size=len(tokenizer),
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id

    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
