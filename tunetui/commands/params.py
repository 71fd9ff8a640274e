"""typer parameters derived from the option table, for the commands that take options.

`init --headless` takes every option and `plan` the ones the planner uses; writing their
typer declarations out by hand restated each option's flag, type and help a second time
(and let them drift: the plan command knew other choices than the recipe). Here each
`tunetui.options.Option` becomes an ``inspect.Parameter`` whose default is a typer option,
and `with_options` gives a command function the generated signature, which typer (and the
CLI's argparse fast path) read like a written one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import typer

from tunetui.options import Option

PANELS = {"model": "Model", "data": "Data", "method": "Adapter / quantization",
          "training": "Training"}  # fmt: skip


def option_parameter(option: Option, *, panels: bool = True) -> inspect.Parameter:
    """The typer parameter for `option`: its flag (``--x/--no-x`` for switches), its help
    with the choices, and a default of None (= not given: the recipe or planner decides)."""
    if option.kind == "bool":
        decls, kind = [f"{option.flag}/--no-{option.flag[2:]}"], bool
    elif option.kind == "list":
        decls, kind = [option.flag], list[str]
    else:
        decls, kind = [option.flag, *option.aliases], option.value_type
    text = option.help
    if option.choices and option.kind != "list":
        text += " " + " | ".join(str(c) for c in option.choices)
    panel = PANELS[option.section] if panels else None
    info = typer.Option(None, *decls, help=text, rich_help_panel=panel)
    return inspect.Parameter(
        option.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind
    )


def with_options(
    func: Callable[..., Any], options: Iterable[Option], *, panels: bool = True
) -> Callable[..., Any]:
    """`func(fixed..., **options)` with a signature listing each option as a typer option."""
    fixed = [p for p in inspect.signature(func).parameters.values() if p.kind != p.VAR_KEYWORD]
    params = fixed + [option_parameter(o, panels=panels) for o in options]
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    hints = {p.name: p.annotation for p in params}
    func.__annotations__ = {**func.__annotations__, **hints}
    return func
