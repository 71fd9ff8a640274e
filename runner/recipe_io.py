"""Reading and writing recipes as YAML, with errors a user can act on.

A recipe file is edited by hand, so every way it can be wrong (missing file, YAML syntax,
a typo'd key, a bad value) must become ONE line naming the file, the key, the bad value and
the fix, raised as `UserError` (exit 2), never a pydantic dump or a traceback. Writing is
atomic (temp file + rename in the same folder) and never overwrites without being asked.

Light module: stdlib, pydantic and PyYAML only (the launcher imports it).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from tunetui.planner.errors import UserError, did_you_mean
from tunetui.runner.recipe import FieldError, Recipe
from tunetui.runner.userfiles import check_writable, read_text

HEADER = "# tunetui recipe: train with `tunetui run {name}`. Unknown keys are errors.\n"

# Keys that only a LLaMA-Factory training YAML has: their presence means the user wants import-lf.
_LF_KEYS = {"model_name_or_path", "finetuning_type", "per_device_train_batch_size", "lora_target"}


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write via a temp file in the same folder + rename, so readers never see half a file.

    One implementation for the whole runner (`rundir.write_atomic`): fsync, and the user's
    usual file mode rather than mkstemp's 0600.
    """
    from tunetui.runner.rundir import write_atomic

    write_atomic(Path(path), text)


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the keys at `loc` (() = the Recipe itself)."""
    model: type[BaseModel] = Recipe
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        sub = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if sub is None:
            return None
        model = sub
    return model


def _dotted(loc: tuple[Any, ...]) -> str:
    """('report_to', 0) -> 'report_to[0]', ('training', 'lr') -> 'training.lr'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(err: dict[str, Any], source: str) -> UserError:
    """One pydantic error -> one UserError line naming key, value and fix."""
    loc = tuple(err.get("loc", ()))
    key = _dotted(loc) or "(top level)"
    kind = err.get("type", "")
    value = err.get("input")
    if kind == "extra_forbidden":
        owner = _section_model(loc[:-1])
        names = list(owner.model_fields) if owner else []
        prefix = _dotted(loc[:-1])
        full = [f"{prefix}.{n}" if prefix else n for n in names]
        hint = did_you_mean(key, full) or did_you_mean(str(loc[-1]), full)
        if not hint and len(loc) == 1:
            hint = _section_hint(str(loc[0]))
        if not hint:
            hint = "Known keys here: " + ", ".join(full) if full else "Remove it."
        return UserError(f"{source}: unknown key '{key}'", hint)
    if kind == "missing":
        return UserError(f"{source}: missing key '{key}'", "Add it to the recipe")
    msg = err.get("msg", "invalid value")
    ctx = err.get("ctx") or {}
    if kind == "literal_error" and "expected" in ctx:
        fix = f"Use one of: {ctx['expected']}"
        if isinstance(value, str):
            expected = str(ctx["expected"]).replace(" or ", ",")
            choices = [c.strip(" '\"") for c in expected.split(",")]
            fix = did_you_mean(value, choices) or fix
        return UserError(f"{source}: {key}={value!r} is not allowed", fix)
    if kind == "value_error" and isinstance(ctx.get("error"), FieldError):
        user = ctx["error"].error
        return UserError(f"{source}: {key}={value!r}: {user.problem}", user.fix)
    if kind == "value_error" and not loc:
        # model validators (e.g. bits without qlora) already phrase key and value themselves
        return UserError(f"{source}: {msg.removeprefix('Value error, ')}", "Fix the recipe")
    shown = "" if isinstance(value, dict) else f"={value!r}"
    return UserError(
        f"{source}: {key}{shown}: {msg[0].lower() + msg[1:]}", _fix_for(kind, ctx, key)
    )


def _section_hint(key: str) -> str:
    """For a top-level key that belongs in a section (`epochs` -> `training.epochs`).

    Flat LLaMA-Factory-style recipes put every key at the top; the plain "known keys" list
    would not tell the user which section the key moved to.
    """
    for section in Recipe.model_fields:
        model = _section_model((section,))
        if model is not None and key in model.model_fields:
            return f"Did you mean '{section}.{key}'? (move it under '{section}:')"
    return ""


_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}
_TYPES = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
    "string_type": "text (quote it)",
    "list_type": "a list, e.g. [a, b]",
    "dict_type": "a mapping of key: value lines",
}


def _fix_for(kind: str, ctx: dict[str, Any], key: str) -> str:
    """A concrete fix for common pydantic error kinds, else a pointer to the key."""
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()), "?")
        return f"Set '{key}' to a value {_BOUNDS[kind]} {bound}"
    if kind in _TYPES:
        return f"Set '{key}' to {_TYPES[kind]}"
    if kind == "string_pattern_mismatch":
        return f"Use letters, digits, '.', '_' or '-' for '{key}'"
    return f"Fix '{key}'"


def set_dotted(tree: dict[str, Any], path: str, value: Any) -> None:
    """``tree["training"]["batch_size"] = value`` for ``path="training.batch_size"`` (the
    option table's recipe paths; the flags and the LLaMA-Factory importer build recipes so)."""
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def get_dotted(tree: dict[str, Any], path: str) -> Any:
    """The value at a dotted recipe path of a dumped recipe."""
    for part in path.split("."):
        tree = tree[part]
    return tree


def recipe_from_dict(data: Any, source: str = "recipe") -> Recipe:
    """Validate a parsed mapping into a Recipe, turning the first problem into a UserError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(
            f"{source}: a recipe must be a YAML mapping, got {type(data).__name__}",
            "Start from `tunetui init --headless` or a file in recipes/",
        )
    lf = sorted(_LF_KEYS & set(data))
    if lf:
        raise UserError(
            f"{source}: looks like a LLaMA-Factory YAML (has '{lf[0]}')",
            f"Convert it first: tunetui import-lf {source} -o recipe.yaml",
        )
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        err = _explain(errors[0], source)
        if len(errors) > 1:
            err = UserError(f"{err.problem} (and {len(errors) - 1} more problem(s))", err.fix)
        raise err from None


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; every failure is one UserError line."""
    path = Path(path)
    name = path.name
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))
        example = path / (found[0] if found else "recipe.yaml")
        raise UserError(
            f"'{path}' is a folder, not a recipe file",
            f"Pass the recipe YAML itself, e.g. {example}",
        )
    if not path.is_file():
        hint = ""
        if path.parent.is_dir():
            hint = did_you_mean(name, [p.name for p in path.parent.glob("*.y*ml")])
        raise UserError(
            f"recipe file '{path}' not found",
            hint or f"Check the path, or write one with `tunetui init --headless -o {path}`",
        )
    text = read_text(path, "recipe")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(
            f"{name}{where}: YAML syntax error: {problem}",
            "Fix the indentation/quoting there (keys are `key: value`)",
        ) from None
    if data is None:  # an empty file must not train every default for hours
        raise UserError(
            f"recipe {path} is empty", f"Write one with `tunetui init --headless -o {path}`"
        )
    recipe = recipe_from_dict(data, source=name)
    return anchor_paths(recipe, path.parent.absolute())


def anchor_paths(recipe: Recipe, base: Path) -> Recipe:
    """The recipe with relative data paths taken from `base` (the recipe file's folder).

    A recipe next to its data must work from any current folder, so `data/x.jsonl` is first
    looked up beside the recipe; the current folder stays the fallback. A path found in
    neither place is anchored to `base` anyway, so the "not found" error names that folder.
    Registry names (bare words that are not files beside the recipe) are left as they are.
    """
    from tunetui.runner.data.dataset_info import data_dir_of, looks_like_path

    data = recipe.data
    dataset_dir = data.dataset_dir
    if dataset_dir:
        rel = Path(dataset_dir).expanduser()
        if not rel.is_absolute() and ((base / rel).is_dir() or not rel.is_dir()):
            dataset_dir = str((base / rel).resolve())
    folder = data_dir_of(dataset_dir)
    datasets = []
    for name in data.datasets:
        rel = Path(name.strip()).expanduser()
        here = base / rel
        pathlike = looks_like_path(name)
        beside = here.is_file() or (pathlike and here.exists())
        nowhere = pathlike and not rel.exists() and not (folder / rel).exists()
        if name.strip() and not rel.is_absolute() and (beside or nowhere):
            datasets.append(str(here.resolve()))
        else:
            datasets.append(name)
    if datasets == data.datasets and dataset_dir == data.dataset_dir:
        return recipe
    update = {"datasets": datasets, "dataset_dir": dataset_dir}
    return recipe.model_copy(update={"data": data.model_copy(update=update)})


def dump_recipe(recipe: Recipe, header: bool = True) -> str:
    """Readable YAML in the schema's field order (stable diffs), with a one-line header comment."""
    data = recipe.model_dump(mode="json")
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return (HEADER.format(name="recipe.yaml") if header else "") + body


def save_recipe(recipe: Recipe, path: str | Path, overwrite: bool = False) -> Path:
    """Write the recipe atomically; refuse to replace an existing file unless `overwrite`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(
            f"'{path}' already exists", "Pass --overwrite to replace it, or choose another -o"
        )
    if path.is_dir():
        raise UserError(f"'{path}' is a folder", "Give a file name such as recipe.yaml")
    check_writable(path, "recipe file", "Choose another -o path")
    text = HEADER.format(name=path.name) + dump_recipe(recipe, header=False)
    write_text_atomic(path, text)
    return path
