"""Check the import contracts in pyproject.toml with import-linter, on the installed layout.

The repository maps its top-level folders (planner/, runner/, tui/) to ``tunetui.planner``
and so on with setuptools' ``package-dir``. import-linter (through grimp) finds a package by
walking its folder on disk, so from the repository it sees only ``tunetui/`` and not the
subpackages mapped into it. This script lays out the installed tree in a temporary folder
(copies of the ``.py`` files, placed as ``package-dir`` says), puts it first on the path and
runs ``lint-imports`` there with the repository's contracts. Exit status is lint-imports'.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def lay_out(dest: Path) -> None:
    """Copy every mapped package's modules to where an install would put them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in config["package-dir"].items():
        target = dest.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for module in (ROOT / folder).glob("*.py"):
            shutil.copy2(module, target / module.name)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tunetui-imports-") as tmp:
        lay_out(Path(tmp))
        env = {**os.environ, "PYTHONPATH": tmp + os.pathsep + os.environ.get("PYTHONPATH", "")}
        linter = Path(sys.executable).with_name("lint-imports")
        cmd = [str(linter), "--config", str(ROOT / "pyproject.toml")]
        return subprocess.run(cmd, cwd=tmp, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
