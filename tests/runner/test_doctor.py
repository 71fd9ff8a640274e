"""`tunetui doctor` (issue 13 §3): each check on a real recipe, and `tunetui run` refusing on
an error unless --force (the cheap checks run before any worker)."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from tunetui.runner.doctor import run_checks
from tunetui.runner.recipe_io import load_recipe

Usage = namedtuple("Usage", "total used free")


def test_every_check_on_the_tiny_model_recipe(make_run, tmp_path: Path) -> None:
    recipe = load_recipe(make_run() / "recipe.yaml")
    checks = {c.name: c for c in run_checks(recipe, tmp_path, gpu="cpu")}
    assert list(checks) == [
        "versions",
        "eos",
        "lengths",
        "disk",
        "memory",
        "fallbacks",
        "collective",
    ]
    assert checks["fallbacks"].status == "ok"
    assert checks["eos"].status == "ok" and "'<|im_end|>'" in checks["eos"].message
    assert "cut by cutoff_len=96" in checks["lengths"].message
    assert checks["memory"].status == "ok" and "longest batch (2 x" in checks["memory"].message
    assert checks["collective"].status == "skip" and "one device" in checks["collective"].message
    assert checks["disk"].status == "ok"


def test_too_little_disk_is_an_error(make_run, tmp_path: Path, monkeypatch) -> None:
    recipe = load_recipe(make_run() / "recipe.yaml")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10, 10, 0))
    (disk,) = [c for c in run_checks(recipe, tmp_path, cheap=True, gpu="cpu") if c.name == "disk"]
    assert disk.status == "error" and "0 GiB free" in disk.message


def test_run_refuses_on_a_doctor_error_unless_forced(fake_runs, monkeypatch) -> None:
    from typer.testing import CliRunner

    from tunetui.cli import app

    recipe = fake_runs("doc", max_steps=2)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10, 10, 0))
    from tunetui.planner.errors import UserError

    refused = CliRunner().invoke(app, ["run", str(recipe), "--headless"])
    assert isinstance(refused.exception, UserError)  # the CLI's main prints it, exit 2
    assert refused.exception.line().startswith("doctor: disk:") and "--force" in str(
        refused.exception.line()
    )
    assert not (Path("runs") / "doc").exists()
    forced = CliRunner().invoke(app, ["run", str(recipe), "--headless", "--force"])
    assert forced.exit_code == 0, forced.output


def test_doctor_command_prints_each_check(make_run) -> None:
    from typer.testing import CliRunner

    from tunetui.cli import app

    result = CliRunner().invoke(app, ["doctor", str(make_run() / "recipe.yaml"), "--gpu", "cpu"])
    assert result.exit_code == 0, result.output
    assert "ok    eos:" in result.output and "skip  collective:" in result.output


@pytest.mark.parametrize("missing", ["trl"])
def test_a_missing_library_is_an_error(monkeypatch, missing: str) -> None:
    from importlib.metadata import PackageNotFoundError

    from tunetui.runner import doctor

    def version(name: str) -> str:
        if name == missing:
            raise PackageNotFoundError(name)
        return doctor.TESTED[name] + ".0"

    monkeypatch.setattr(doctor, "version", version)
    check = doctor.check_versions()
    assert check.status == "error" and check.message == f"{missing} missing"
