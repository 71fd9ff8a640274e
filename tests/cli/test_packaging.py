"""Every package folder must be listed in pyproject.toml, or installs miss it."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_mapped() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {Path(p) for p in cfg["package-dir"].values()}
    assert set(cfg["packages"]) == set(cfg["package-dir"])
    folders = {
        p.parent.relative_to(ROOT)
        for top in ("tunetui", "planner", "runner", "tui", "recipes")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert folders <= mapped, f"unmapped package folders: {sorted(map(str, folders - mapped))}"
