"""Length statistics and rendered previews for the wizard, without loading a model.

The wizard shows how long samples are against `cutoff_len` and what the model will actually
see (the chat template applied) while the user is still choosing settings, so this must be
quick and must not import transformers or torch: samples are rendered with jinja2 directly
(`templates.render_chat`) and counted with the `tokenizers` library's fast tokenizer from
`<model_dir>/tokenizer.json` when one is on disk, else approximated as characters / 4.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from tunetui.runner.data.formats import Sample
from tunetui.runner.data.templates import render_chat, special_tokens, template_source
from tunetui.runner.data.validation import STAGE_KIND, _percentile, load_samples
from tunetui.runner.recipe import Recipe

CHARS_PER_TOKEN = 4


def find_tokenizer_dir(recipe: Recipe) -> Path | None:
    """The model's folder when its tokenizer is already on disk (never converts or downloads)."""
    name = recipe.model.name_or_path
    path = Path(name).expanduser()
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if path.is_dir() and (path / "tokenizer.json").is_file():
        return path
    try:
        from tunetui.runner.models import EMBEDDED, embedded_cache_path
    except ImportError:
        return None
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


def _render_all(
    recipe: Recipe, tokenizer_dir: Path | None, limit: int | None = None
) -> tuple[list[str], str]:
    source, used = template_source(recipe.data.template, tokenizer_dir)
    tokens = special_tokens(tokenizer_dir)
    samples = [s for d in load_samples(recipe) for s in d.samples]
    if limit is not None:
        samples = samples[:limit]
    texts = [
        render_sample(s, recipe.stage, source, tokens, recipe.data.train_on_prompt) for s in samples
    ]
    return texts, used


def data_stats(recipe: Recipe, tokenizer_dir: str | Path | None = None) -> dict[str, Any]:
    """Token lengths of the rendered samples against cutoff_len: n, p50, p95, max, over_cutoff.

    `method` says whether counts are real tokens or the chars/4 approximation; `warnings`
    says when most samples would be truncated.
    """
    folder = Path(tokenizer_dir) if tokenizer_dir is not None else find_tokenizer_dir(recipe)
    texts, template = _render_all(recipe, folder)
    counter = _Counter(folder)
    lengths = counter.count(texts)
    cutoff = recipe.data.cutoff_len
    over = sum(n > cutoff for n in lengths)
    n = len(lengths)
    stats: dict[str, Any] = {
        "n": n,
        "p50": int(statistics.median(lengths)) if lengths else 0,
        "p95": _percentile(lengths, 0.95),
        "max": max(lengths, default=0),
        "cutoff_len": cutoff,
        "over_cutoff": over,
        "over_cutoff_frac": round(over / n, 4) if n else 0.0,
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
    texts, _ = _render_all(recipe, folder, limit=n)
    return texts
