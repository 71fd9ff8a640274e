"""Reading every dataset of a recipe and checking it against the stage, before any model loads.

`validate_data` is what the launcher (and `tunetui run`) calls first: a malformed line 37 must
fail in a second with `data.json line 37: missing "output"`, not twenty minutes into loading an
8B model. It needs no tokenizer, so it is also what the wizard uses to count samples.
`load_samples` is shared with `build.build_datasets` so both read data the same way.

Light module: stdlib only (no datasets/transformers import).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.data.dataset_info import DatasetSpec, resolve_datasets
from tunetui.runner.data.formats import RecordParser, Sample, detect, expand_turns
from tunetui.runner.data.readers import read_records
from tunetui.runner.recipe import Recipe

# What each stage trains on: conversations, preference pairs, KTO-labelled answers, raw text.
STAGE_KIND = {
    "sft": "conv",
    "pt": "text",
    "dpo": "pair",
    "orpo": "pair",
    "rm": "pair",
    "kto": "kto",
}


@dataclass
class DatasetCount:
    """Counts for one dataset in the report."""

    name: str
    files: list[str]
    format: str
    records: int
    used: int


@dataclass
class LoadedDataset:
    """One dataset's samples, already cut to max_samples."""

    spec: DatasetSpec
    records: int
    samples: list[Sample]


@dataclass
class DataReport:
    """What `validate_data` found: per-dataset counts, the split, rough lengths, warnings."""

    stage: str
    datasets: list[DatasetCount]
    total: int
    n_train: int
    n_eval: int
    chars_p50: int = 0
    chars_p95: int = 0
    chars_max: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _kind_name(loaded: LoadedDataset) -> str:
    """How the wizard and report describe a dataset's format."""
    spec = loaded.spec
    if spec.ranking:
        return f"{spec.formatting} pairwise"
    if spec.is_kto:
        return f"{spec.formatting} kto"
    first = loaded.samples[0] if loaded.samples else None
    if spec.formatting == "alpaca" and first is not None and not first.completion:
        return "text"
    return spec.formatting or "?"


def _check_stage(spec: DatasetSpec, stage: str) -> None:
    kind = STAGE_KIND[stage]
    if kind == "conv" and spec.ranking:
        raise UserError(
            f"dataset '{spec.name}' is a preference dataset (chosen/rejected) but stage is sft",
            "Use stage dpo, orpo or rm for it, or pick an instruction dataset",
        )
    if kind == "pair" and not spec.ranking:
        raise UserError(
            f"stage {stage} needs preference data (chosen/rejected) but dataset '{spec.name}' "
            "has none",
            "Use a pairwise dataset such as dpo_demo, or set ranking: true in dataset_info.json",
        )
    if kind == "kto" and not (spec.ranking or spec.is_kto):
        raise UserError(
            f"stage kto needs a true/false label per answer but dataset '{spec.name}' has none",
            "Use a KTO dataset such as kto_demo (kto_tag column) or a pairwise one",
        )


def _load_one(spec: DatasetSpec, recipe: Recipe, kind: str) -> LoadedDataset:
    parser = RecordParser(spec, recipe.data.placeholders)
    limit = recipe.data.max_samples
    samples: list[Sample] = []
    records = 0
    checked = False
    for path in spec.files:
        for line, rec in read_records(path):
            where = f"{path.name} line {line}"
            if spec.formatting is None:
                detect(spec, rec, where)
            if not checked:
                _check_stage(spec, recipe.stage)
                checked = True
            sample = parser.parse(rec, path.name, line, kind)
            records += 1
            if limit is not None and records > limit:
                continue  # max_samples counts records; still validate the rest of the file
            if kind == "kto" and spec.ranking:  # unpaired: chosen is good, rejected is bad
                samples.append(Sample(prompt=sample.prompt, completion=sample.chosen, label=True))
                samples.append(
                    Sample(prompt=sample.prompt, completion=sample.rejected, label=False)
                )
            elif kind == "conv" and not (recipe.data.mask_history or recipe.data.train_on_prompt):
                # (with train_on_prompt the whole conversation is one `messages` sample)
                samples.extend(expand_turns(sample))
            else:
                samples.append(sample)
    if records == 0:
        raise UserError(
            f"dataset '{spec.name}' is empty ({', '.join(p.name for p in spec.files)})",
            "Add records or remove it from data.datasets",
        )
    return LoadedDataset(spec=spec, records=records, samples=samples)


def load_samples(recipe: Recipe) -> list[LoadedDataset]:
    """Read and check every dataset the recipe names; raises UserError on the first bad record."""
    kind = STAGE_KIND[recipe.stage]
    specs = resolve_datasets(recipe.data.datasets, recipe.data.dataset_dir)
    return [_load_one(spec, recipe, kind) for spec in specs]


def split_sizes(total: int, val_size: float) -> tuple[int, int]:
    """(n_train, n_eval) the way `build_datasets` splits: at least one eval sample if asked."""
    if val_size <= 0:
        return total, 0
    n_eval = max(1, math.floor(total * val_size))
    if total - n_eval < 1:
        raise UserError(
            f"data.val_size={val_size} leaves no training samples out of {total}",
            "Lower val_size or add data",
        )
    return total - n_eval, n_eval


def percentile(values: list[int], q: float) -> int:
    """The `q` quantile by nearest rank (0 for no values); shared with the token stats."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def validate_data(recipe: Recipe) -> DataReport:
    """Check every file of every dataset against the recipe's stage; count what will train."""
    loaded = load_samples(recipe)
    total = sum(len(d.samples) for d in loaded)
    n_train, n_eval = split_sizes(total, recipe.data.val_size)
    lengths = [len(s.plain_text()) for d in loaded for s in d.samples]
    report = DataReport(
        stage=recipe.stage,
        datasets=[
            DatasetCount(
                name=d.spec.name,
                files=[str(Path(p)) for p in d.spec.files],
                format=_kind_name(d),
                records=d.records,
                used=len(d.samples),
            )
            for d in loaded
        ],
        total=total,
        n_train=n_train,
        n_eval=n_eval,
        chars_p50=int(statistics.median(lengths)) if lengths else 0,
        chars_p95=percentile(lengths, 0.95),
        chars_max=max(lengths, default=0),
    )
    approx_cutoff_chars = recipe.data.cutoff_len * 4  # ~4 characters per token in English
    over = sum(n > approx_cutoff_chars for n in lengths)
    if lengths and over > len(lengths) / 2:
        report.warnings.append(
            f"{over} of {len(lengths)} samples look longer than "
            f"cutoff_len={recipe.data.cutoff_len} tokens (median {report.chars_p50} characters, "
            f"about {report.chars_p50 // 4} tokens): "
            "they will be truncated; raise data.cutoff_len"
        )
    if n_train < recipe.training.batch_size * recipe.training.grad_accum:
        effective = recipe.training.batch_size * recipe.training.grad_accum
        report.warnings.append(
            f"only {n_train} training samples for an effective batch of {effective}: "
            "one optimizer step per epoch"
        )
    return report
