"""Command-line flags <-> recipe: the one option set shared by `init --headless` and the wizard.

Every option of `tunetui.options` is a flag (its name, its ``--flag``, its dotted recipe
field), so both directions come from one table: `recipe_from_flags(**options)` builds a
recipe (what `tunetui init --headless` writes, and what the wizard saves) and
`flags_from_recipe(recipe)` gives the command line that rebuilds it (the wizard's "copy the
equivalent command line"). A test round-trips them. `plan_request(recipe)` is the other
direction the same table serves: the recipe as the planner's request.

When no method/size option is given, the planner's recommendation for this machine fills
them in (`tunetui.planner.plan.build_plan`); if the planner fails, the option defaults.

Light module: no torch (init must start fast).
"""

from __future__ import annotations

import shlex
from typing import Any

from tunetui.planner.errors import UserError, unknown
from tunetui.runner import distributed
from tunetui.runner.modelpath import EMBEDDED
from tunetui.runner.recipe import Recipe
from tunetui.runner.recipe_io import get_dotted, recipe_from_dict, set_dotted

from tunetui.options import (
    BITS,
    BY_NAME,
    OPTIONS,
    Option,
    applies,
    contradiction,
    default,
    default_learning_rate,
    unknown_choice,
)

__all__ = ["FLAGS", "default_learning_rate", "plan_request", "recipe_from_flags"]

# Every option is a flag of `init --headless`; the table lives in `tunetui.options`.
FLAGS: tuple[Option, ...] = OPTIONS

# Options the planner's recommendation may fill in (its keys are option names too).
PLANNED = ("method", "bits", "rank", "batch", "grad_accum", "grad_ckpt", "optim", "cutoff_len")
# Options that, when given, mean the user has chosen method/size themselves.
SIZE_OPTIONS = ("method", "bits", "rank", "batch", "grad_accum")
FALLBACK = {name: default(name) for name in ("method", "rank", "batch", "grad_accum")}


def _normalize(flag: Option, value: Any) -> Any:
    if flag.kind == "list":
        items = [value] if isinstance(value, str) else list(value)
        # --dataset a,b is accepted too (LLaMA-Factory writes lists that way)
        return [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if flag.name == "bits" and isinstance(value, str) and value.strip().isdigit():
        return int(value)  # Literal[4, 8] does not coerce strings (the wizard passes text)
    if flag.kind == "csv" and isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def planner_recommendation(model: str, stage: str, seq: int) -> tuple[dict[str, Any], str]:
    """(recommendation, where it came from) for this machine; the defaults when the planner
    fails, since a planner bug must not stop the user writing a recipe."""
    from tunetui.planner.plan import build_plan

    try:
        plan = build_plan(model=model, gpu="auto", stage=stage, cutoff_len=seq)
    except UserError:
        raise
    except Exception as exc:  # a planner bug must not stop the user writing a recipe
        return dict(FALLBACK), f"defaults: LoRA r8, batch 2, accum 4 (planner failed: {exc})"
    rec = plan.get("recommendation") or {}
    out = {name: rec[name] for name in PLANNED if rec.get(name) is not None}
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

    from tunetui.planner.models import resolve_model

    if Path(model).expanduser().exists() or "/" in model or model.lower() in EMBEDDED:
        return model
    try:
        return resolve_model(model).hf_id or model
    except UserError:
        return model


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
    unknown_opts = sorted(set(options) - set(BY_NAME))
    if unknown_opts:
        raise unknown("option", unknown_opts[0], sorted(BY_NAME))
    options = _check_given(options)
    note = "your flags"
    if recommend and all(options.get(o) is None for o in SIZE_OPTIONS):
        model = options.get("model") or default("model")
        seq = options.get("cutoff_len") or default("cutoff_len")
        rec, note = planner_recommendation(model, options.get("stage") or "sft", seq)
        options = apply_recommendation(options, rec)
    if options.get("model"):
        options = {**options, "model": hub_id_for(options["model"])}
    tree: dict[str, Any] = {}
    for option, value in options.items():  # normalized by _check_given already
        if value is not None:
            set_dotted(tree, BY_NAME[option].path, value)
    try:
        return recipe_from_dict(tree, source="flags"), note
    except UserError as err:
        raise _as_flag_error(err) from None


def _check_given(options: dict[str, Any]) -> dict[str, Any]:
    """The options with what they imply filled in (a bit width alone means QLoRA), after
    refusing unknown choices and contradictions (`tunetui.options.contradiction`): the same
    rule as `tunetui plan`, so no option is ever dropped silently."""
    options = {k: None if v is None else _normalize(BY_NAME[k], v) for k, v in options.items()}
    for name, value in options.items():
        bad = unknown_choice(name, value)
        if bad:
            raise unknown(*bad)
    if options.get("method") is None and options.get("bits") in BITS:
        options = {**options, "method": "qlora"}
    method = options.get("method") or default("method")
    # Values equal to their default carry no intent (the wizard passes every field).
    given = {k: v for k, v in options.items() if v is not None and v != default(k)}
    clash = contradiction(method, given)
    if clash:
        raise UserError(*clash)
    return options


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
    # The schema picks the learning rate by stage and method when --lr is absent.
    defaults["training"]["learning_rate"] = default_learning_rate(recipe.stage, recipe.method)
    args: list[str] = []
    for flag in FLAGS:
        value = get_dotted(data, flag.path)
        if only_changed and value == get_dotted(defaults, flag.path) and flag.name != "method":
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


def plan_request(recipe: Recipe, gpu: str = "auto") -> dict[str, Any]:
    """The recipe as `planner.plan.build_plan` keywords: the options marked ``plans``, under
    their own names, for the hardware `gpu` names (``auto`` = probe this machine).

    Passing every planned option makes the planner estimate exactly this configuration
    rather than recommend one. The launcher (plan.json) and the wizard (the VRAM bar) both
    call this, so what a run is planned with and what the wizard showed cannot differ.
    """
    data = recipe.model_dump(mode="json")
    # A full fine-tune's recipe still has a lora section: options of other methods stay out.
    request: dict[str, Any] = {
        o.name: get_dotted(data, o.path) if applies(o.name, recipe.method) else None
        for o in OPTIONS
        if o.plans
    }
    if isinstance(request["targets"], list):
        request["targets"] = ",".join(request["targets"])
    request.update(gpu=gpu, effective_batch=recipe.training.batch_size * recipe.training.grad_accum)
    if distributed.is_distributed(recipe):  # plan's own --gpus/--parallel: per-GPU figures
        d = recipe.distributed
        request.update(parallel=d.strategy, gpus=d.num_processes or distributed.visible_gpus())
    return request
