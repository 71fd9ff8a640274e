"""Which model and adapter a user's RUN|ADAPTER|MODEL argument means, without torch.

Export, chat, eval, the demo and active learning all start from the same question: "the
user pointed at *this*; which base model and which adapter does that mean?".
`resolve_target` answers it from the files alone (a run's recipe, an adapter's config, a
model folder or a model name), so bad input fails fast, with one line, before any heavy
library is imported. `inference.load_model` turns the answer into a model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.rundir import RECIPE_FILE, all_run_dirs, find_named_run, is_run_dir

ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class Target:
    """What a user's RUN|ADAPTER|MODEL argument means.

    ``base`` is a local model directory; ``adapter`` a PEFT adapter directory or None;
    ``run_dir`` is set when the user named a run; ``quantized`` is True when the adapter was
    trained on a quantized (QLoRA) base, which matters for merging.
    """

    base: Path
    adapter: Path | None = None
    run_dir: Path | None = None
    quantized: bool = False
    trust_remote_code: bool = False

    @property
    def label(self) -> str:
        """Short human name: the run's or adapter's folder, else the model's."""
        if self.run_dir is not None:
            return self.run_dir.name
        return str(self.adapter or self.base)


def _resolve_model_dir(name: str) -> Path:
    """A model name or path to a local directory (the embedded model is converted once)."""
    from tunetui.runner.train.loading import resolve_model_dir

    return Path(resolve_model_dir(name))


def _read_recipe_model(run_dir: Path) -> tuple[str, str, bool]:
    """(model name_or_path, method, trust_remote_code) from a run's resolved recipe."""
    from tunetui.runner.recipe_io import load_recipe

    recipe = load_recipe(run_dir / RECIPE_FILE)
    return recipe.model.name_or_path, recipe.method, recipe.model.trust_remote_code


def _adapter_base(adapter: Path) -> str | None:
    """The base model path recorded in an adapter's config (None if unreadable)."""
    try:
        config = json.loads((adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("base_model_name_or_path") or None


def resolve_target(target: str, adapter: str | None = None) -> Target:
    """Turn the user's RUN|ADAPTER_DIR|MODEL (+ optional --adapter) into a `Target`.

    A run gives its ``adapter/`` (on the recipe's base model) or its ``model/``; an adapter
    directory gives itself on the base recorded in ``adapter_config.json``; anything else is
    a model directory or a name that `runner.train.loading.resolve_model_dir` knows.
    """
    path = _named_run(target) or Path(target).expanduser()
    extra_adapter = _check_adapter(Path(adapter).expanduser()) if adapter else None
    if is_run_dir(path):
        result = _resolve_run(path)
        if extra_adapter is not None:
            if result.adapter is not None:
                raise UserError(
                    f"run '{path}' already has an adapter, and --adapter was given too",
                    "drop --adapter, or point at the run's base model instead of the run",
                )
            return Target(base=result.base, adapter=extra_adapter, run_dir=path)
        return result
    if path.is_dir() and (path / ADAPTER_CONFIG).is_file():
        if extra_adapter is not None:
            raise UserError(
                f"'{path}' is an adapter, and --adapter was given too",
                "give the base model first and the adapter with --adapter, or just the adapter",
            )
        return Target(base=_base_for_adapter(path, None), adapter=path)
    if path.exists() and not (path / "config.json").is_file():
        raise UserError(
            f"'{path}' is not a run, an adapter or a model directory (no recipe.yaml, "
            f"{ADAPTER_CONFIG} or config.json)",
            "point at runs/<name>, its adapter/ folder, or a Hugging Face model folder",
        )
    if not path.exists() and _looks_like_path(target):
        raise UserError(f"'{target}' does not exist", "check the path; `tunetui runs` lists runs")
    if not path.exists() and "/" not in target and not _is_embedded(target):
        raise _neither_run_nor_model(target)
    return Target(base=_resolve_model_dir(target), adapter=extra_adapter)


def _is_embedded(name: str) -> bool:
    from tunetui.runner.modelpath import EMBEDDED

    return name.strip().lower() in EMBEDDED


def _named_run(name: str) -> Path | None:
    """``demo`` -> its run folder, under ``./runs`` or anywhere in the run index, when a run
    of that name exists and no such path does."""
    if Path(name).expanduser().exists() or os.sep in name:
        return None
    return find_named_run(name)


def _neither_run_nor_model(name: str) -> UserError:
    """A bare word that names no run and no model: say both, with the nearest of each."""
    from tunetui.planner.errors import close_matches
    from tunetui.runner.modelpath import EMBEDDED

    runs = sorted({p.name for p in all_run_dirs()})
    near = close_matches(name, [*runs, *EMBEDDED], n=3)
    hint = "Did you mean " + " or ".join(f"'{n}'" for n in near) + "?" if near else ""
    return UserError(
        f"no run or model named '{name}'",
        hint or "`tunetui runs` lists runs, `tunetui models` models (or give a model folder)",
    )


def _looks_like_path(text: str) -> bool:
    """True for './x', '/x', '~/x' or 'runs/x' (an existing first folder), not 'org/model'."""
    if text.startswith((".", "/", "~")):
        return True
    head = Path(text).parts[0] if Path(text).parts else ""
    return os.sep in text and Path(head).is_dir()


def _check_adapter(path: Path) -> Path:
    if not (path / ADAPTER_CONFIG).is_file():
        raise UserError(
            f"'{path}' is not a PEFT adapter (no {ADAPTER_CONFIG})",
            "pass the adapter/ folder of a LoRA run with --adapter",
        )
    return path


def _resolve_run(run_dir: Path) -> Target:
    if not (run_dir / RECIPE_FILE).is_file():  # e.g. an AL round: events only, no model
        raise UserError(
            f"'{run_dir}' has no {RECIPE_FILE}, so it is not a training run with a result",
            "point at a run made by `tunetui run`, its adapter/ folder, or a model folder",
        )
    name, method, trust = _read_recipe_model(run_dir)
    adapter, model = run_dir / "adapter", run_dir / "model"
    if (adapter / ADAPTER_CONFIG).is_file():
        return Target(
            base=_base_for_adapter(adapter, name),
            adapter=adapter,
            run_dir=run_dir,
            quantized=method == "qlora",
            trust_remote_code=trust,
        )
    if (model / "config.json").is_file():
        return Target(base=model, run_dir=run_dir, trust_remote_code=trust)
    raise UserError(
        f"run '{run_dir}' has no adapter/ or model/ yet (still training, stopped or failed)",
        f"wait for it to finish (`tunetui attach {run_dir}`) or resume it",
    )


def _base_for_adapter(adapter: Path, recipe_model: str | None) -> Path:
    """The base model directory for an adapter: the recipe's model, else the recorded one."""
    for candidate in (recipe_model, _adapter_base(adapter)):
        if not candidate:
            continue
        local = Path(candidate).expanduser()
        if (local / "config.json").is_file():
            return local
        try:
            return _resolve_model_dir(candidate)
        except UserError:
            continue
    raise UserError(
        f"cannot find the base model of adapter '{adapter}'",
        "pass the base model and the adapter: `<MODEL> --adapter <ADAPTER_DIR>`",
    )
