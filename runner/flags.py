"""Command-line flags <-> recipe: the one option set shared by `init --headless` and the wizard.

`FLAGS` maps each option (its Python name, its `--flag`) to a dotted recipe field, so both
directions come from one table: `recipe_from_flags(**options)` builds a recipe (what
`tunetui init --headless` writes) and `flags_from_recipe(recipe)` gives the command line
that rebuilds it (the wizard's "copy the equivalent command line"). A test round-trips them.

When no method/size option is given, the planner's recommendation for this machine fills
them in (`tunetui.planner.plan.build_plan`); without a planner the fallback is LoRA r8,
batch 2, grad accum 4.

Light module: no torch (init must start fast).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.recipe import Recipe
from tunetui.runner.recipe_io import recipe_from_dict


@dataclass(frozen=True)
class Flag:
    """One option: python name, command-line flag, dotted recipe path, how it is written."""

    option: str
    flag: str
    path: str
    kind: str = "value"  # value | bool (--x/--no-x) | list (repeatable) | csv (a,b,c)


FLAGS: tuple[Flag, ...] = (
    Flag("name", "--name", "name"),
    Flag("model", "--model", "model.name_or_path"),
    Flag("stage", "--stage", "stage"),
    Flag("method", "--method", "method"),
    Flag("dataset", "--dataset", "data.datasets", "list"),
    Flag("dataset_dir", "--dataset-dir", "data.dataset_dir"),
    Flag("template", "--template", "data.template"),
    Flag("cutoff_len", "--cutoff-len", "data.cutoff_len"),
    Flag("packing", "--packing", "data.packing", "bool"),
    Flag("val_size", "--val-size", "data.val_size"),
    Flag("max_samples", "--max-samples", "data.max_samples"),
    Flag("train_on_prompt", "--train-on-prompt", "data.train_on_prompt", "bool"),
    Flag("mask_history", "--mask-history", "data.mask_history", "bool"),
    Flag("rank", "--rank", "lora.rank"),
    Flag("alpha", "--alpha", "lora.alpha"),
    Flag("dropout", "--dropout", "lora.dropout"),
    Flag("targets", "--targets", "lora.targets", "csv"),
    Flag("trainable_layers", "--trainable-layers", "freeze.trainable_layers"),
    Flag("train_embeddings", "--train-embeddings", "freeze.train_embeddings", "bool"),
    Flag("bits", "--bits", "quantization.bits"),
    Flag("epochs", "--epochs", "training.epochs"),
    Flag("max_steps", "--max-steps", "training.max_steps"),
    Flag("lr", "--lr", "training.learning_rate"),
    Flag("scheduler", "--scheduler", "training.lr_scheduler"),
    Flag("warmup_ratio", "--warmup-ratio", "training.warmup_ratio"),
    Flag("batch", "--batch", "training.batch_size"),
    Flag("grad_accum", "--grad-accum", "training.grad_accum"),
    Flag("grad_ckpt", "--grad-ckpt", "training.gradient_checkpointing", "bool"),
    Flag("precision", "--precision", "training.precision"),
    Flag("optim", "--optim", "training.optimizer"),
    Flag("seed", "--seed", "training.seed"),
    Flag("save_steps", "--save-steps", "training.save_steps"),
    Flag("eval_steps", "--eval-steps", "training.eval_steps"),
    Flag("logging_steps", "--logging-steps", "training.logging_steps"),
    Flag("save_total_limit", "--save-total-limit", "training.save_total_limit"),
    Flag("pref_beta", "--pref-beta", "training.pref_beta"),
    Flag("weight_decay", "--weight-decay", "training.weight_decay"),
    Flag("max_grad_norm", "--max-grad-norm", "training.max_grad_norm"),
    Flag("output_dir", "--output-dir", "output_dir"),
    Flag("report_to", "--report-to", "report_to", "list"),
    Flag("trust_remote_code", "--trust-remote-code", "model.trust_remote_code", "bool"),
    Flag("attn", "--attn", "model.attn_implementation"),
    Flag("liger", "--liger", "model.liger_kernel", "bool"),
)
BY_OPTION = {f.option: f for f in FLAGS}

# Options the planner's recommendation may fill in, and the recommendation key for each.
PLANNED = {
    "method": "method",
    "bits": "bits",
    "rank": "lora_rank",
    "batch": "batch_size",
    "grad_accum": "grad_accum",
    "grad_ckpt": "gradient_checkpointing",
    "optim": "optimizer",
    "cutoff_len": "seq_len",
}
# Options that, when given, mean the user has chosen method/size themselves.
SIZE_OPTIONS = ("method", "bits", "rank", "batch", "grad_accum")
FALLBACK = {"method": "lora", "rank": 8, "batch": 2, "grad_accum": 4}


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _get(tree: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        tree = tree[part]
    return tree


def _normalize(flag: Flag, value: Any) -> Any:
    if flag.kind == "list":
        items = [value] if isinstance(value, str) else list(value)
        # --dataset a,b is accepted too (LLaMA-Factory writes lists that way)
        return [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if flag.option == "bits" and isinstance(value, str) and value.strip().isdigit():
        return int(value)  # Literal[4, 8] does not coerce strings (the wizard passes text)
    if flag.kind == "csv" and isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def planner_recommendation(model: str, stage: str, seq: int) -> tuple[dict[str, Any], str]:
    """(recommendation, where it came from) for this machine; the fallback when no planner."""
    try:
        from tunetui.planner.plan import build_plan
    except ImportError:
        return dict(FALLBACK), "defaults: LoRA r8, batch 2, accum 4 (no planner available)"
    try:
        plan = build_plan(model=model, gpu="auto", stage=stage, seq=seq)
    except UserError:
        raise
    except Exception as exc:  # a planner bug must not stop the user writing a recipe
        return dict(FALLBACK), f"defaults: LoRA r8, batch 2, accum 4 (planner failed: {exc})"
    rec = (plan or {}).get("recommendation") or {}
    out = {opt: rec[key] for opt, key in PLANNED.items() if rec.get(key) is not None}
    if out.get("bits") not in (4, 8):
        out.pop("bits", None)  # 16 = unquantized weights: no quantization section
    note = "planner recommendation"
    if rec.get("fits") is False:
        why = (rec.get("reasons") or {}).get("method", "it does not fit this machine")
        note += f" (does NOT fit: {why})"
    return out, note


def hub_id_for(model: str) -> str:
    """A planner catalog id (llama-3.1-8b) -> its HF id, which the runner can resolve; other
    names (embedded ids, folders, HF ids) are returned unchanged."""
    from pathlib import Path

    if Path(model).expanduser().exists() or "/" in model:
        return model
    try:
        from tunetui.runner.modelpath import EMBEDDED

        if model.lower() in EMBEDDED:
            return model
        from tunetui.planner.models import resolve_model

        return resolve_model(model).hf_id or model
    except (ImportError, UserError):
        return model


# Learning rates people use per stage and method when they don't pick one (LLaMA-Factory's
# example recipes and trl's defaults): adapters tolerate ~10x the rate of full fine-tuning,
# and preference stages want far smaller steps than SFT.
_LR = {
    ("sft", True): 2e-4, ("sft", False): 2e-5,
    ("pt", True): 2e-4, ("pt", False): 2e-5,
    ("rm", True): 1e-4, ("rm", False): 1e-5,
    ("dpo", True): 5e-6, ("dpo", False): 1e-6,
    ("kto", True): 5e-6, ("kto", False): 1e-6,
    ("orpo", True): 8e-6, ("orpo", False): 2e-6,
}  # fmt: skip


def default_learning_rate(stage: str, method: str) -> float:
    """The learning rate a recipe gets when neither the user nor the wizard set one."""
    return _LR.get((stage, method in ("lora", "dora", "qlora")), 2e-4)


def apply_recommendation(options: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """Fill the options the user left unset from a recommendation (user choices always win)."""
    merged = dict(options)
    for option in PLANNED:
        if merged.get(option) is None and rec.get(option) is not None:
            merged[option] = rec[option]
    if merged.get("method") not in (None, "qlora"):
        merged["bits"] = options.get("bits")  # a recommended bit width only goes with qlora
    return merged


def recipe_and_source(*, recommend: bool = True, **options: Any) -> tuple[Recipe, str]:
    """(recipe, where method/sizes came from): `recipe_from_flags` plus a note for the user."""
    unknown_opts = sorted(set(options) - set(BY_OPTION))
    if unknown_opts:
        from tunetui.planner.errors import unknown

        raise unknown("option", unknown_opts[0], sorted(BY_OPTION))
    note = "your flags"
    if recommend and all(options.get(o) is None for o in SIZE_OPTIONS):
        model = options.get("model") or Recipe().model.name_or_path
        seq = options.get("cutoff_len") or Recipe().data.cutoff_len
        rec, note = planner_recommendation(model, options.get("stage") or "sft", seq)
        options = apply_recommendation(options, rec)
    if options.get("model"):
        options = {**options, "model": hub_id_for(options["model"])}
    if options.get("lr") is None:
        stage, method = options.get("stage") or "sft", options.get("method") or "lora"
        options = {**options, "lr": default_learning_rate(stage, method)}
    tree: dict[str, Any] = {}
    for option, value in options.items():
        if value is None:
            continue
        flag = BY_OPTION[option]
        _set(tree, flag.path, _normalize(flag, value))
    try:
        return recipe_from_dict(tree, source="flags"), note
    except UserError as err:
        raise _as_flag_error(err) from None


def _as_flag_error(err: UserError) -> UserError:
    """'flags: training.learning_rate=...' -> '--lr=...': name the flag the user typed."""
    problem, fix = err.problem.removeprefix("flags: "), err.fix or ""
    for flag in sorted(FLAGS, key=lambda f: -len(f.path)):
        if problem.startswith(flag.path):
            problem = flag.flag + problem[len(flag.path) :].lstrip("[0123456789]")
            fix = fix.replace(f"'{flag.path}'", flag.flag)
            break
    return UserError(problem, fix.replace("the recipe", "the flags") or None)


def recipe_from_flags(*, recommend: bool = True, **options: Any) -> Recipe:
    """A validated Recipe from flag values (None = not given, use the default).

    With `recommend` and no method/size option, the planner's recommendation for this
    machine fills method, bits, rank, batch, grad accum, checkpointing and optimizer.
    """
    return recipe_and_source(recommend=recommend, **options)[0]


def flags_from_recipe(recipe: Recipe, only_changed: bool = True) -> list[str]:
    """The `tunetui init --headless` arguments that rebuild `recipe` (defaults left out)."""
    data = recipe.model_dump(mode="json")
    defaults = Recipe(method=recipe.method).model_dump(mode="json")
    # recipe_from_flags picks the learning rate by stage and method when --lr is absent.
    defaults["training"]["learning_rate"] = default_learning_rate(recipe.stage, recipe.method)
    args: list[str] = []
    for flag in FLAGS:
        value = _get(data, flag.path)
        if only_changed and value == _get(defaults, flag.path) and flag.option != "method":
            continue
        if flag.kind == "bool":
            args.append(flag.flag if value else f"--no-{flag.flag[2:]}")
        elif flag.kind == "list":
            for item in value:
                args += [flag.flag, str(item)]
        elif value is None:
            continue  # None is every optional field's default; a flag cannot say "unset"
        elif flag.kind == "csv" and isinstance(value, list):
            args += [flag.flag, ",".join(value)]
        else:
            args += [flag.flag, str(value)]
    return args


def command_line(recipe: Recipe, output: str = "recipe.yaml") -> str:
    """The whole shell command, quoted, that writes this recipe."""
    args = ["tunetui", "init", "--headless", *flags_from_recipe(recipe), "-o", output]
    return shlex.join(args)
