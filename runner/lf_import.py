"""Converting a LLaMA-Factory training YAML into a tunetui recipe.

People arrive with LLaMA-Factory recipes; `tunetui import-lf` carries over everything that
has a tunetui equivalent and names every key it cannot map (one warning each), so nothing is
dropped silently. Keys that only steer LLaMA-Factory's own machinery (preprocessing workers,
plotting, DDP timeouts...) are listed in `_IGNORED` and reported as "no effect in tunetui".

Light module: stdlib + PyYAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tunetui.planner.errors import UserError
from tunetui.runner.data.templates import ALIASES, TEMPLATES
from tunetui.runner.recipe import Recipe
from tunetui.runner.recipe_io import recipe_from_dict

from tunetui.options import LOGGERS, SCHEDULERS, STAGES

# LLaMA-Factory key -> dotted recipe path (values copied as they are).
_DIRECT = {
    "model_name_or_path": "model.name_or_path",
    "trust_remote_code": "model.trust_remote_code",
    "stage": "stage",
    "lora_rank": "lora.rank",
    "lora_alpha": "lora.alpha",
    "lora_dropout": "lora.dropout",
    "freeze_trainable_layers": "freeze.trainable_layers",
    "dataset_dir": "data.dataset_dir",
    "cutoff_len": "data.cutoff_len",
    "max_samples": "data.max_samples",
    "val_size": "data.val_size",
    "packing": "data.packing",
    "train_on_prompt": "data.train_on_prompt",
    "mask_history": "data.mask_history",
    "per_device_train_batch_size": "training.batch_size",
    "gradient_accumulation_steps": "training.grad_accum",
    "learning_rate": "training.learning_rate",
    "num_train_epochs": "training.epochs",
    "warmup_ratio": "training.warmup_ratio",
    "weight_decay": "training.weight_decay",
    "max_grad_norm": "training.max_grad_norm",
    "seed": "training.seed",
    "logging_steps": "training.logging_steps",
    "save_steps": "training.save_steps",
    "eval_steps": "training.eval_steps",
    "save_total_limit": "training.save_total_limit",
    "gradient_checkpointing": "training.gradient_checkpointing",
    "pref_beta": "training.pref_beta",
    "output_dir": "output_dir",
    "enable_liger_kernel": "model.liger_kernel",
    "double_quantization": "quantization.double_quant",
    "quantization_type": "quantization.quant_type",
}

# Keys with no effect on what tunetui trains (LLaMA-Factory runtime knobs).
_IGNORED = {
    "do_train",
    "overwrite_cache",
    "preprocessing_num_workers",
    "dataloader_num_workers",
    "plot_loss",
    "overwrite_output_dir",
    "save_only_model",
    "ddp_timeout",
    "resume_from_checkpoint",
    "per_device_eval_batch_size",
    "eval_strategy",
}

# LLaMA-Factory's stages that tunetui trains (its ORPO is stage dpo with pref_loss orpo).
_STAGES = tuple(s for s in STAGES if s != "orpo")
_OPTIMIZERS = {
    "adamw_torch": "adamw",
    "adamw_hf": "adamw",
    "adamw_8bit": "adamw_8bit",
    "paged_adamw_8bit": "paged_adamw",
    "paged_adamw_32bit": "paged_adamw",
    "sgd": "sgd",
}
_ATTENTION = {"fa2": "flash_attention_2", "sdpa": "sdpa", "disabled": "eager"}


@dataclass
class ImportResult:
    """The converted recipe and one warning per key that could not be carried over."""

    recipe: Recipe
    warnings: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # runtime knobs with no effect here


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _template(value: Any, warn: list[str]) -> str:
    name = str(value).strip().lower()
    if name in TEMPLATES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    warn.append(f"template: '{value}' has no tunetui equivalent; using auto (the model's own)")
    return "auto"


def _targets(value: Any) -> str | list[str]:
    names = _split(value)
    return "all" if names in (["all"], []) else names


def _check_kind(lf: Any, source: str) -> None:
    """Refuse what is not a LLaMA-Factory training YAML, saying what it is instead."""
    if not isinstance(lf, dict):
        raise UserError(
            f"{source}: expected a YAML mapping of LLaMA-Factory keys", "Check the file"
        )
    if "model_name_or_path" not in lf:
        hint = " (this looks like a LLaMA-Factory v1 config)" if "peft_config" in lf else ""
        raise UserError(
            f"{source}: no model_name_or_path{hint}, so not a LLaMA-Factory training YAML",
            "Pass a train_*.yaml from LLaMA-Factory's examples/",
        )
    if "export_dir" in lf and "stage" not in lf:
        raise UserError(
            f"{source}: this is a LLaMA-Factory export/merge config, not a training one",
            "Merge adapters with `tunetui export`",
        )


@dataclass
class _Conversion:
    """One conversion in progress: the source keys, the recipe tree being built, the
    warnings, and every key some step took care of (the rest are warned about at the end)."""

    lf: dict[str, Any]
    source: str
    tree: dict[str, Any] = field(default_factory=dict)
    warn: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    handled: set[str] = field(default_factory=lambda: set(_DIRECT) | _IGNORED)

    def direct(self) -> None:
        for key, path in _DIRECT.items():
            if key in self.lf and self.lf[key] is not None:
                _set(self.tree, path, self.lf[key])
                self.mapped.append(key)

    def stage(self) -> None:
        lf = self.lf
        stage = str(lf.get("stage", "sft"))
        if stage not in _STAGES:
            raise UserError(
                f"{self.source}: stage '{stage}' is not supported", f"Use {', '.join(_STAGES)}"
            )
        if stage == "dpo" and lf.get("pref_loss") == "orpo":
            stage = "orpo"
        self.tree["stage"] = stage
        self.handled.add("pref_loss")
        if lf.get("pref_loss") not in (None, "sigmoid", "orpo"):
            self.warn.append(
                f"pref_loss: '{lf['pref_loss']}' is not supported; using DPO's sigmoid loss"
            )

    def method(self) -> None:
        """finetuning_type + quantization_bit + use_dora -> method (and bits)."""
        lf, warn = self.lf, self.warn
        ftype = str(lf.get("finetuning_type", "lora"))
        bits = lf.get("quantization_bit")
        self.handled |= {"finetuning_type", "quantization_bit", "use_dora", "lora_target"}
        if ftype == "lora":
            method = "dora" if lf.get("use_dora") else "lora"
            if bits is not None:
                if int(bits) not in (4, 8):
                    warn.append(f"quantization_bit: {bits} is not supported (4 or 8); using 4")
                    bits = 4
                if method == "dora":
                    warn.append("use_dora with quantization_bit: tunetui's QLoRA is plain LoRA")
                method = "qlora"
                self.tree.setdefault("quantization", {})["bits"] = int(bits)
        elif ftype in ("full", "freeze"):
            method = ftype
            if bits is not None:
                warn.append(f"quantization_bit: {bits} needs LoRA; ignored for {ftype} fine-tuning")
        else:
            warn.append(f"finetuning_type: '{ftype}' is not supported; using lora")
            method = "lora"
        self.tree["method"] = method
        if "lora_target" in lf:
            _set(self.tree, "lora.targets", _targets(lf["lora_target"]))

    def data(self) -> None:
        lf = self.lf
        self.handled |= {"dataset", "eval_dataset", "template"}
        if "dataset" in lf:
            self.tree.setdefault("data", {})["datasets"] = _split(lf["dataset"])
        if "eval_dataset" in lf:
            self.warn.append("eval_dataset: separate eval datasets are not supported; use val_size")
        if "template" in lf:
            self.tree.setdefault("data", {})["template"] = _template(lf["template"], self.warn)

    def schedule(self) -> None:
        lf = self.lf
        self.handled |= {"max_steps", "lr_scheduler_type"}
        if "max_steps" in lf and lf["max_steps"] not in (None, -1, 0):
            _set(self.tree, "training.max_steps", lf["max_steps"])
        if "lr_scheduler_type" in lf:
            if str(lf["lr_scheduler_type"]) in SCHEDULERS:
                _set(self.tree, "training.lr_scheduler", str(lf["lr_scheduler_type"]))
            else:
                self.warn.append(
                    f"lr_scheduler_type: '{lf['lr_scheduler_type']}' not supported; cosine"
                )

    def precision(self) -> None:
        """bf16 / fp16 / pure_bf16 -> training.precision."""
        lf = self.lf
        self.handled |= {"bf16", "fp16", "pure_bf16"}
        if lf.get("bf16") or lf.get("pure_bf16"):
            _set(self.tree, "training.precision", "bf16")
            if lf.get("pure_bf16"):
                self.warn.append(
                    "pure_bf16: mapped to bf16 mixed precision (weights stay fp32 master)"
                )
        elif lf.get("fp16"):
            _set(self.tree, "training.precision", "fp16")

    def optimizer(self) -> None:
        lf = self.lf
        galore = ("galore_rank", "galore_scale", "galore_layerwise", "galore_target")
        self.handled |= {"optim", "use_galore", *galore}
        if lf.get("use_galore"):
            _set(self.tree, "training.optimizer", "galore")
            for key in galore:
                if key in lf:
                    self.warn.append(
                        f"{key}: tunetui uses its own GaLore defaults; {lf[key]!r} not kept"
                    )
        elif "optim" in lf:
            optim = _OPTIMIZERS.get(str(lf["optim"]))
            if optim:
                _set(self.tree, "training.optimizer", optim)
            else:
                self.warn.append(f"optim: '{lf['optim']}' not supported; using adamw")

    def runtime(self) -> None:
        """Quantization backend, attention implementation, loggers and the run's name."""
        lf, warn = self.lf, self.warn
        self.handled |= {"quantization_method", "flash_attn", "report_to"}
        if lf.get("quantization_method") not in (None, "bnb", "bitsandbytes"):
            warn.append(
                f"quantization_method: '{lf['quantization_method']}' not supported; "
                "bitsandbytes used"
            )
        if "flash_attn" in lf:
            attn = _ATTENTION.get(str(lf["flash_attn"]))
            if attn:
                _set(self.tree, "model.attn_implementation", attn)
            elif str(lf["flash_attn"]) != "auto":
                warn.append(f"flash_attn: '{lf['flash_attn']}' not supported; using sdpa")
        if "report_to" in lf:
            wanted = _split(lf["report_to"]) or ["none"]
            for r in wanted:
                if r not in LOGGERS:
                    warn.append(f"report_to: '{r}' is not supported ({', '.join(LOGGERS)})")
            self.tree["report_to"] = [r for r in wanted if r in LOGGERS] or ["none"]
        if "output_dir" in lf:
            name = Path(str(lf["output_dir"])).name or "run"
            name = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).lstrip(".-")
            self.tree["name"] = name or "run"


def convert(lf: dict[str, Any], source: str = "config") -> ImportResult:
    """Map a parsed LLaMA-Factory YAML onto a recipe; unknown keys become warnings."""
    _check_kind(lf, source)
    job = _Conversion(lf, source)
    for step in (job.direct, job.stage, job.method, job.data, job.schedule, job.precision,
                 job.optimizer, job.runtime):  # fmt: skip
        step()
    for key in lf:
        if key not in job.handled:
            job.warn.append(f"{key}: not supported by tunetui, ignored (value {lf[key]!r})")
    recipe = recipe_from_dict(job.tree, source=source)
    ignored = sorted(_IGNORED & set(lf))
    return ImportResult(recipe=recipe, warnings=job.warn, mapped=job.mapped, ignored=ignored)


def check_datasets(result: ImportResult) -> None:
    """Warn about dataset names the recipe's dataset_dir does not know (LF keeps them in data/)."""
    from tunetui.runner.data.dataset_info import data_dir_of, load_dataset_info

    folder = data_dir_of(result.recipe.data.dataset_dir)
    try:
        known = load_dataset_info(folder)
    except UserError as err:
        result.warnings.append(f"dataset_dir: {err.problem}")
        return
    missing = [n for n in result.recipe.data.datasets if n not in known]
    if missing:
        where = "the shipped demo data" if result.recipe.data.dataset_dir is None else str(folder)
        result.warnings.append(
            f"dataset: {', '.join(missing)} not in {where}; point data.dataset_dir at your "
            "LLaMA-Factory data folder (import-lf --dataset-dir DIR)"
        )


def import_lf(path: str | Path, dataset_dir: str | None = None) -> ImportResult:
    """Read a LLaMA-Factory YAML file and convert it (UserError for unreadable files).

    `dataset_dir` overrides the YAML's (LLaMA-Factory defaults to its own `data/` folder,
    which the YAML does not name); dataset names are then checked against it.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file '{path}' not found", "Give the path of a LLaMA-Factory YAML")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path.name}{where}: YAML syntax error", "Fix the YAML") from None
    result = convert(data, source=path.name)
    if dataset_dir is not None:
        result.recipe.data.dataset_dir = dataset_dir
    check_datasets(result)
    return result
