"""Building trl-ready `datasets.Dataset`s from a recipe.

The column layout is what trl 1.16's trainers take as "standard conversational" data, so
the trainers do their own tokenization, masking and truncation and we never hand-roll it:

- sft: `prompt` (messages) + `completion` (the assistant answer) -> trl's completion-only
  loss masks the prompt; with `train_on_prompt` a single `messages` column (loss on all).
  Multi-turn history sits in the prompt. `tools` (JSON string) when a dataset has them.
- pt: `text`.
- dpo / orpo / rm: `prompt` + `chosen` + `rejected`.
- kto: `prompt` + `completion` + `label` (bool).

`datasets` is imported inside the function: only the training process pays for it.
"""

from __future__ import annotations

from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.data.formats import Sample
from tunetui.runner.data.templates import apply_template
from tunetui.runner.data.validation import STAGE_KIND, load_samples, split_sizes
from tunetui.runner.recipe import Recipe


def sample_row(sample: Sample, stage: str, train_on_prompt: bool = False) -> dict[str, Any]:
    """One Sample as the row trl expects for `stage`."""
    kind = STAGE_KIND[stage]
    if kind == "text":
        return {"text": sample.text if sample.text is not None else sample.plain_text()}
    if kind == "pair":
        return {"prompt": sample.prompt, "chosen": sample.chosen, "rejected": sample.rejected}
    if kind == "kto":
        return {"prompt": sample.prompt, "completion": sample.completion, "label": sample.label}
    if train_on_prompt:
        return {"messages": sample.prompt + sample.completion, "tools": sample.tools}
    return {"prompt": sample.prompt, "completion": sample.completion, "tools": sample.tools}


def build_rows(recipe: Recipe) -> list[dict[str, Any]]:
    """All rows of all datasets (each cut to max_samples), in dataset order."""
    rows = [
        sample_row(s, recipe.stage, recipe.data.train_on_prompt)
        for loaded in load_samples(recipe)
        for s in loaded.samples
    ]
    if rows and "tools" in rows[0] and all(r["tools"] is None for r in rows):
        for r in rows:  # no dataset has tools: leave the column out entirely
            del r["tools"]
    if not rows:
        raise UserError("the recipe's datasets hold no samples", "Check data.datasets")
    return rows


def build_datasets(recipe: Recipe, tokenizer: Any = None) -> tuple[Any, Any | None]:
    """(train, eval or None) `datasets.Dataset`s for the recipe's stage.

    Sets the tokenizer's chat template first (`data.template`), since trl renders with it.
    The eval split is `data.val_size` of the samples, drawn with the recipe's seed so a resumed
    or repeated run evaluates on the same samples.
    """
    from datasets import Dataset

    if tokenizer is not None and STAGE_KIND[recipe.stage] != "text":
        apply_template(tokenizer, recipe.data.template)
    rows = build_rows(recipe)
    dataset = Dataset.from_list(rows)
    _, n_eval = split_sizes(len(rows), recipe.data.val_size)
    if n_eval == 0:
        return dataset, None
    parts = dataset.train_test_split(test_size=n_eval, seed=recipe.training.seed, shuffle=True)
    return parts["train"], parts["test"]
