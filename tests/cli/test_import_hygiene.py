"""The CLI entry and the planner must never import the heavy stack.

`tunetui plan` has to answer in well under a second; torch alone takes ~2.7 s to import.
Each check runs in a fresh interpreter and inspects `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "trl", "datasets", "textual", "bitsandbytes")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def _heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "code",
    [
        "import tunetui.cli",
        "import tunetui.planner.errors, tunetui.runner.events, tunetui.runner.recipe",
        "import tunetui.runner.launcher, tunetui.runner.console, tunetui.runner.stopping",
    ],
)
def test_light_modules_stay_light(code: str) -> None:
    assert _heavy(_modules_after(code)) == []


def test_the_tui_imports_textual_but_no_training_stack() -> None:
    """The wizard and dashboard run in the user's SSH session: textual, never torch."""
    mods = _modules_after("import tunetui.tui.app, tunetui.tui.dashboard")
    assert "textual" in mods
    assert [m for m in _heavy(mods) if not m.startswith("textual")] == []


def _contract(name: str) -> list[str]:
    from pathlib import Path

    import tomllib

    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"] == name)["source_modules"]


def test_every_light_runner_module_is_under_the_contracts() -> None:
    """A new module beside the launcher must be placed: light (listed, so import-linter keeps
    torch out of it) or in a heavy sub-package (train/, infer/, al/)."""
    from pathlib import Path

    runner = Path(__file__).parents[2] / "runner"
    here = {f"tunetui.runner.{p.stem}" for p in runner.glob("*.py") if p.stem != "__init__"}
    here.add("tunetui.runner.data")
    light = _contract("the light runner never imports the training process or the inference tools")
    assert sorted(here) == sorted(light)
    assert set(light) <= set(_contract("nothing light imports torch and friends"))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["plan", "--model", "llama-3.1-8b", "--gpu", "4090", "--json"],
        ["plan", "--help"],
        ["probe", "--json"],
        ["gpus", "--json"],
        ["models", "--json"],
    ],
)
def test_cli_commands_do_not_import_heavy_stack(argv: list[str]) -> None:
    code = (
        "import sys\nfrom tunetui.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    )
    assert _heavy(_modules_after(code)) == []


def test_plan_reads_this_machine_s_measurements_without_the_recipe_schema() -> None:
    """`tunetui plan` reads the calibration file on every call: building the recipe's
    pydantic schema for that cost 70 ms, half the plan's start-up (bench/plan_startup.py)."""
    mods = _modules_after("from tunetui.runner.calibration import measurements; measurements()")
    assert "tunetui.runner.calibration" in mods
    assert "tunetui.runner.recipe" not in mods and "pydantic" not in mods
