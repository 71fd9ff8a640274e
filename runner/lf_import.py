"""Converting a LLaMA-Factory training YAML into a tunetui recipe.

People arrive with LLaMA-Factory recipes; `tunetui import-lf` carries over everything that
has a tunetui equivalent and names every key it cannot map (one warning each), so nothing is
dropped silently. Keys that only steer LLaMA-Factory's own machinery (preprocessing workers,
plotting, DDP timeouts...) are listed in `_IGNORED` and reported as "no effect in tunetui".

LLaMA-Factory's v1 schema (``USE_V1=1``: ``model``, ``peft_config``, ``quant_config``,
``dist_config``, ``micro_batch_size``) is first rewritten into the v0 keys
(`runner.lf_import_v1.from_v1`), so both go through the same steps. Keys a recipe leaves
out get LLaMA-Factory's defaults, not tunetui's (gradient checkpointing on, 3 epochs...):
an imported job must need the memory and time it needed there.

Light module: stdlib + PyYAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tunetui.planner.errors import UserError
from tunetui.runner.data.templates import ALIASES, TEMPLATES
from tunetui.runner.lf_import_v1 import from_v1
from tunetui.runner.recipe import Recipe
from tunetui.runner.recipe_io import recipe_from_dict, set_dotted
from tunetui.runner.userfiles import read_text

from tunetui.options import LOGGERS, SCHEDULERS, STAGES

# LLaMA-Factory's (and HF TrainingArguments') defaults where tunetui's differ: a recipe that
# leaves them out meant these.
_LF_DEFAULTS = {
    "num_train_epochs": 3.0,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "learning_rate": 5e-5,
    "cutoff_len": 2048,
    "lora_dropout": 0.0,
    "save_steps": 500,
    "logging_steps": 500,
}
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
_ADAPTERS = ("oft", "loraplus", "pissa")  # LLaMA-Factory adapters tunetui has no form of
# Names of pre-quantized checkpoints, as their model ids spell them.
_PREQUANTIZED = ("AWQ", "GPTQ", "AQLM", "EXL2", "HQQ", "bnb-4bit", "bnb-8bit")


@dataclass
class ImportResult:
    """The converted recipe and one warning per key that could not be carried over."""

    recipe: Recipe
    warnings: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # runtime knobs with no effect here


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
    """Refuse what is not a LLaMA-Factory training YAML, saying what it is instead: turning
    a prediction or merge config into a training run would change its meaning."""
    if not isinstance(lf, dict):
        raise UserError(
            f"{source}: expected a YAML mapping of LLaMA-Factory keys", "Check the file"
        )
    if "model_name_or_path" not in lf:
        raise UserError(
            f"{source}: no model_name_or_path (nor v1's model), so not a LLaMA-Factory "
            "training YAML",
            "Pass a train_*.yaml from LLaMA-Factory's examples/",
        )
    if "export_dir" in lf and "stage" not in lf:
        raise UserError(
            f"{source}: this is a LLaMA-Factory export/merge config, not a training one",
            "Merge adapters with `tunetui export`",
        )
    if (lf.get("do_predict") or lf.get("do_eval")) and not lf.get("do_train"):
        raise UserError(
            f"{source}: this is a LLaMA-Factory prediction/evaluation config "
            "(do_predict/do_eval without do_train), not a training one",
            "Evaluate a run or adapter with `tunetui eval RUN --data FILE`",
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
        """Keys copied as they are; a key the recipe leaves out gets LLaMA-Factory's
        default, not tunetui's (3 epochs, not 1: the job must mean what it meant there)."""
        for key, path in _DIRECT.items():
            value = self.lf.get(key, _LF_DEFAULTS.get(key))
            if value is not None:
                set_dotted(self.tree, path, value)
                self.mapped += [key] if key in self.lf else []
        if "lora_alpha" not in self.lf:  # LLaMA-Factory: alpha = 2 x rank when unset
            set_dotted(self.tree, "lora.alpha", 2 * int(self.lf.get("lora_rank", 8)))

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
        if ftype not in ("lora", "full", "freeze"):
            kind = "adapter" if ftype in _ADAPTERS else "method"
            warn.append(f"finetuning_type: '{ftype}' is not supported; converted to lora "
                        f"(another {kind}: results will differ)")  # fmt: skip
            ftype = "lora"
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
        else:
            method = ftype
            if bits is not None:
                warn.append(f"quantization_bit: {bits}-bit base weights need an adapter; {ftype} "
                            "fine-tuning trains the 16-bit model (far more memory)")  # fmt: skip
        self.tree["method"] = method
        if "lora_target" in lf:
            set_dotted(self.tree, "lora.targets", _targets(lf["lora_target"]))
        self._prequantized()

    def _prequantized(self) -> None:
        """A base already quantized (AWQ, GPTQ, AQLM...) must not pass for a plain one."""
        name = str(self.lf.get("model_name_or_path", ""))
        scheme = next((q for q in _PREQUANTIZED if q.lower() in name.lower()), None)
        if scheme:
            self.warn.append(
                f"model_name_or_path: '{name}' is a pre-quantized ({scheme}) base; tunetui "
                f"plans it as a 16-bit model and loading it needs the {scheme} kernels"
            )

    def checkpointing(self) -> None:
        """LLaMA-Factory checkpoints activations unless told not to (an explicit HF
        ``gradient_checkpointing`` wins); importing it as off could need far more memory."""
        lf = self.lf
        self.handled |= {"disable_gradient_checkpointing", "gradient_checkpointing"}
        on = not lf.get("disable_gradient_checkpointing", False)
        if lf.get("gradient_checkpointing") is not None:
            on = bool(lf["gradient_checkpointing"])
        set_dotted(self.tree, "training.gradient_checkpointing", on)
        self.mapped += [k for k in ("disable_gradient_checkpointing", "gradient_checkpointing")
                        if k in lf]  # fmt: skip

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
            set_dotted(self.tree, "training.max_steps", lf["max_steps"])
        if str(lf.get("lr_scheduler_type", "linear")) in SCHEDULERS:  # HF's default: linear
            set_dotted(
                self.tree, "training.lr_scheduler", str(lf.get("lr_scheduler_type", "linear"))
            )
        else:
            self.warn.append(
                f"lr_scheduler_type: '{lf['lr_scheduler_type']}' not supported; cosine"
            )

    def precision(self) -> None:
        """bf16 / fp16 / pure_bf16 -> training.precision."""
        lf = self.lf
        self.handled |= {"bf16", "fp16", "pure_bf16"}
        if lf.get("bf16") or lf.get("pure_bf16"):
            set_dotted(self.tree, "training.precision", "bf16")
            if lf.get("pure_bf16"):
                self.warn.append(
                    "pure_bf16: mapped to bf16 mixed precision (weights stay fp32 master)"
                )
        elif lf.get("fp16"):
            set_dotted(self.tree, "training.precision", "fp16")

    def optimizer(self) -> None:
        lf = self.lf
        galore = ("galore_rank", "galore_scale", "galore_layerwise", "galore_target")
        self.handled |= {"optim", "use_galore", *galore}
        if lf.get("use_galore"):
            set_dotted(self.tree, "training.optimizer", "galore")
            for key in galore:
                if key in lf:
                    self.warn.append(
                        f"{key}: tunetui uses its own GaLore defaults; {lf[key]!r} not kept"
                    )
        elif "optim" in lf:
            optim = _OPTIMIZERS.get(str(lf["optim"]))
            if optim:
                set_dotted(self.tree, "training.optimizer", optim)
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
                set_dotted(self.tree, "model.attn_implementation", attn)
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


def convert(lf: dict[str, Any], source: str = "config", base: Path | None = None) -> ImportResult:
    """Map a parsed LLaMA-Factory YAML (v0, or v1 with ``model``) onto a recipe; every
    key is converted, or named in a warning with why it is not."""
    v1_warnings: list[str] = []
    if isinstance(lf, dict) and "model" in lf and "model_name_or_path" not in lf:
        lf, v1_warnings = from_v1(lf, base)
    _check_kind(lf, source)
    job = _Conversion(lf, source, warn=v1_warnings)
    for step in (job.direct, job.stage, job.method, job.checkpointing, job.data, job.schedule,
                 job.precision, job.optimizer, job.runtime):  # fmt: skip
        step()
    for key in lf:
        if key not in job.handled:
            job.warn.append(f"{key}: not supported by tunetui, ignored (value {lf[key]!r})")
    recipe = recipe_from_dict(job.tree, source=source)
    ignored = sorted(_IGNORED & set(lf))
    return ImportResult(recipe=recipe, warnings=job.warn, mapped=job.mapped, ignored=ignored)


def check_datasets(result: ImportResult) -> None:
    """Warn about dataset names the recipe's dataset_dir does not know (LF keeps them in data/)."""
    from tunetui.runner.data.dataset_info import data_dir_of, load_dataset_info, looks_like_path

    folder = data_dir_of(result.recipe.data.dataset_dir)
    try:
        known = load_dataset_info(folder)
    except UserError as err:
        result.warnings.append(f"dataset_dir: {err.problem}")
        return
    missing = [n for n in result.recipe.data.datasets if n not in known and not looks_like_path(n)]
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
    text = read_text(path, "LLaMA-Factory YAML", "Give the path of a LLaMA-Factory YAML")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path.name}{where}: YAML syntax error", "Fix the YAML") from None
    result = convert(data, source=path.name, base=Path(dataset_dir or path.parent))
    if dataset_dir is not None:
        result.recipe.data.dataset_dir = dataset_dir
    check_datasets(result)
    return result
