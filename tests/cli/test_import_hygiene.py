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
    ],
)
def test_light_modules_stay_light(code: str) -> None:
    assert _heavy(_modules_after(code)) == []


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
