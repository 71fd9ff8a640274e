"""Length statistics and rendered previews for the wizard, without loading a model.

The wizard shows how long samples are against `cutoff_len` and what the model will actually
see (the chat template applied) while the user is still choosing settings, so this must be
quick and must not import transformers or torch: samples are rendered with jinja2 directly
(`templates.render_chat`) and counted with the `tokenizers` library's fast tokenizer from
`<model_dir>/tokenizer.json` when one is on disk, else approximated as characters / 4.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

from tunetui.runner.data.formats import Sample
from tunetui.runner.data.templates import render_chat, special_tokens, template_source
from tunetui.runner.data.validation import STAGE_KIND, load_samples, percentile
from tunetui.runner.modelpath import EMBEDDED, embedded_cache_path
from tunetui.runner.recipe import Recipe

CHARS_PER_TOKEN = 4
SAMPLE_LIMIT = 1000


def find_tokenizer_dir(recipe: Recipe) -> Path | None:
    """The model's folder when its tokenizer is already on disk (never converts or downloads)."""
    name = recipe.model.name_or_path
    path = Path(name).expanduser()
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if path.is_dir() and (path / "tokenizer.json").is_file():
        return path
    if name.lower() in EMBEDDED:
        cached = embedded_cache_path(name.lower())
        if (cached / "tokenizer.json").is_file():
            return cached
    return None


def _tools(sample: Sample) -> list[dict] | None:
    if not sample.tools:
        return None
    tools = json.loads(sample.tools)
    return tools if isinstance(tools, list) else [tools]


def render_sample(
    sample: Sample, stage: str, source: str, tokens: dict[str, str], train_on_prompt: bool = False
) -> str:
    """The text the trainer will tokenize for one sample (chosen answer for preference data)."""
    if STAGE_KIND[stage] == "text":
        return sample.text if sample.text is not None else sample.plain_text()
    answer = sample.completion or sample.chosen or []
    return render_chat(source, sample.prompt + answer, tools=_tools(sample), **tokens)


class _Counter:
    """Token counts with the model's own tokenizer when available, else characters / 4."""

    def __init__(self, tokenizer_dir: Path | None) -> None:
        self.method = f"chars/{CHARS_PER_TOKEN} approximation"
        self._tok: Any = None
        if tokenizer_dir is not None and (tokenizer_dir / "tokenizer.json").is_file():
            try:
                from tokenizers import Tokenizer

                self._tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
                self.method = f"tokenizer.json from {tokenizer_dir}"
            except Exception:  # an unreadable tokenizer only costs precision here
                self._tok = None

    def count(self, texts: list[str]) -> list[int]:
        if self._tok is None:
            return [max(1, round(len(t) / CHARS_PER_TOKEN)) for t in texts]
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]


def _render(
    recipe: Recipe, samples: list[Sample], tokenizer_dir: Path | None
) -> tuple[list[str], str]:
    source, used = template_source(recipe.data.template, tokenizer_dir)
    tokens = special_tokens(tokenizer_dir)
    texts = [
        render_sample(s, recipe.stage, source, tokens, recipe.data.train_on_prompt) for s in samples
    ]
    return texts, used


def data_stats(
    recipe: Recipe, tokenizer_dir: str | Path | None = None, sample_limit: int = SAMPLE_LIMIT
) -> dict[str, Any]:
    """Token lengths of the rendered samples against cutoff_len: n, p50, p95, max, over_cutoff.

    `method` says whether counts are real tokens or the chars/4 approximation; `warnings`
    says when most samples would be truncated. Above `sample_limit` samples the lengths come
    from a seeded random subset (`sampled` says how many), which keeps the wizard responsive
    on big datasets: percentiles of 1,000 samples are within a few tokens of the full set.
    """
    folder = Path(tokenizer_dir) if tokenizer_dir is not None else find_tokenizer_dir(recipe)
    samples = [s for d in load_samples(recipe) for s in d.samples]
    total = len(samples)
    longest: list[Sample] = []
    if total > sample_limit:
        # the longest few by characters are measured too, so `max` is the real maximum
        longest = sorted(samples, key=lambda s: len(s.plain_text()))[-20:]
        samples = random.Random(recipe.training.seed).sample(samples, sample_limit)
    texts, template = _render(recipe, samples + longest, folder)
    counter = _Counter(folder)
    counted = counter.count(texts)
    lengths, extremes = counted[: len(samples)], counted[len(samples) :]
    cutoff = recipe.data.cutoff_len
    frac = sum(n > cutoff for n in lengths) / len(lengths) if lengths else 0.0
    n = total
    over = round(frac * n)
    stats: dict[str, Any] = {
        "n": n,
        "sampled": len(lengths),
        "p50": int(statistics.median(lengths)) if lengths else 0,
        "p95": percentile(lengths, 0.95),
        "max": max(lengths + extremes, default=0),
        "cutoff_len": cutoff,
        "over_cutoff": over,
        "over_cutoff_frac": round(frac, 4),
        "method": counter.method,
        "template": template,
        "warnings": [],
    }
    if n and over > n / 2:
        stats["warnings"].append(
            f"{over} of {n} samples ({over / n:.0%}) are longer than cutoff_len={cutoff} tokens "
            f"(median {stats['p50']}, p95 {stats['p95']}): they will be truncated; "
            f"raise data.cutoff_len to about {stats['p95']}"
        )
    return stats


def preview(recipe: Recipe, n: int = 3, tokenizer_dir: str | Path | None = None) -> list[str]:
    """The first `n` samples rendered as the trainer will see them (chat template applied)."""
    folder = Path(tokenizer_dir) if tokenizer_dir is not None else find_tokenizer_dir(recipe)
    whole = recipe.model_copy(deep=True)
    whole.data.mask_history = True  # show whole conversations, not one sample per turn
    samples = [s for d in load_samples(whole) for s in d.samples][:n]
    return _render(recipe, samples, folder)[0]
