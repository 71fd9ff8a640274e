"""Training data: formats, LLaMA-Factory's dataset_info.json, chat templates, validation.

Public entry points (import them from here; the
training process builds trl-ready `datasets.Dataset`s with `runner.train.data.build_datasets`):

- `validate_data(recipe) -> DataReport`: read and check every file, no tokenizer or model.
- `apply_template(tokenizer, name)`: set the chat template (`auto` keeps the tokenizer's).
- `data_stats(recipe, tokenizer_dir)` / `preview(recipe, n, tokenizer_dir)`: wizard helpers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunetui.runner.data.stats import data_stats, preview
    from tunetui.runner.data.templates import apply_template
    from tunetui.runner.data.validation import DataReport, load_samples, validate_data

_WHERE = {
    "validate_data": "validation",
    "DataReport": "validation",
    "load_samples": "validation",
    "apply_template": "templates",
    "data_stats": "stats",
    "preview": "stats",
}

__all__ = [
    "DataReport",
    "apply_template",
    "data_stats",
    "load_samples",
    "preview",
    "validate_data",
]


def __getattr__(name: str) -> Any:
    # Lazy: `import tunetui.runner.data` stays free of datasets/transformers.
    if name in _WHERE:
        import importlib

        module = importlib.import_module(f"tunetui.runner.data.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(name)
